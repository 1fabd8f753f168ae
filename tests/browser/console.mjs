// Every screen of the console but Jobs, against a seeded server (tests/tests/console_browser.rs):
//   node tests/browser/console.mjs <base url> <api token>
// Seeded: user alice (password "alicepw") with one APPLE device that synced Product once, 2,000 users user0000..user1999,
// the md of alice's Product, sources Product (user) and Catalog (app), stats on.

import { run } from "./lib.mjs";

const MD = "source:application:alice:Product:md";
const NOTE = "console:note";

run(async (t, token) => {
  const { page } = t;

  // --- Login -----------------------------------------------------------------------
  await page.goto(`${t.base}/console/#users`);
  await t.screen("login"); // every screen but Login needs a session
  await t.check(await page.isHidden("#tabs"), "the tab bar is hidden before login");
  await t.shot("01-login");
  await page.fill('#login-form input[name="password"]', "wrong");
  await page.click('#login-form button[type="submit"]');
  await t.text("#alert", "Unable to authenticate 'rhoadmin'");
  await page.fill('#login-form input[name="password"]', "");
  await page.click('#login-form button[type="submit"]');
  await t.screen("home");
  const stored = await page.evaluate(() => [sessionStorage.getItem("apiKey"), sessionStorage.getItem("authenticated")]);
  await t.equal(stored, [token, "true"], "login stores the token in sessionStorage");
  await t.check(await page.isVisible("#logout-link"), "the Logout link shows after login");

  // --- Home --------------------------------------------------------------------------
  await t.text("#app-sources", "Catalog");
  const sources = await t.waitCall("GET", "/rc/v1/sources/type/app");
  const appserver = await t.waitCall("GET", "/rc/v1/system/appserver");
  await t.equal(sources.headers["x-rhoconnect-api-token"], token, "calls carry the token header");
  await t.check(Math.max(sources.at, appserver.at) <= Math.min(sources.doneAt, appserver.doneAt), "home loads the sources and the app server URL in parallel");
  await t.text("#sync-server", "/application");
  await t.check(await page.isHidden("#api-token"), "the token is hidden by default");
  await page.click("#token-toggle");
  await t.text("#api-token", token);
  await t.shot("02-home");

  await page.fill("#admin-password", "s3cret");
  await page.click('#password-form button[type="submit"]');
  await t.text("#password-form .status", "success");
  const put = t.lastCall("PUT", "/rc/v1/users/rhoadmin");
  await t.equal(JSON.parse(put.body), { attributes: { login: "rhoadmin", password: "s3cret" } }, "change-password body");
  const relogin = await t.api("POST", "/rc/v1/system/login", "", { login: "rhoadmin", password: "s3cret" });
  await t.equal(relogin.status, 200, "the new admin password works");

  await page.fill("#adapter-url", "http://localhost:3000");
  await page.click('#adapter-form button[type="submit"]');
  await t.text("#adapter-form .status", "success");
  await t.equal(JSON.parse((await t.api("GET", "/rc/v1/system/appserver", token)).text), { adapter_url: "http://localhost:3000" }, "saved app server URL");
  await t.go("#adapter", "adapter");
  await t.equal(await page.inputValue("#adapter-url"), "http://localhost:3000", "#adapter shows the saved URL");

  // --- Server Doc and Document view ----------------------------------------------------
  await t.go("#docselect", "docselect");
  await page.fill("#doc-key", MD);
  await page.click('#docselect-form button[type="submit"]');
  await t.text("#doc-value", '"name": "Pump"');
  await t.text("#doc-value", '"name": "<img src=x onerror=alert(1)>"');
  await t.equal(await page.locator("#view img").count(), 0, "an attribute's markup shows as text");
  await t.shot("03-docselect");
  await page.fill("#doc-key", NOTE);
  await page.click('#docselect-form button[type="submit"]');
  await t.text("#doc-value", "Document is Empty");
  await page.fill("#doc-input", "hello from the console");
  await page.click('#doc-form button[type="submit"]');
  await t.text("#doc-value", "hello from the console");
  await t.equal((await t.api("GET", `/rc/v1/store/${NOTE}`, token)).text, "hello from the console", "the edit is stored");
  await t.go(`#doc/${encodeURIComponent(NOTE)}/source_id=Product`, "doc");
  await t.text("#view h1", `Document ${NOTE}`);
  await t.text("#doc-value", "hello from the console");
  await t.shot("04-doc");
  await page.click("#doc-clear");
  await t.text("#doc-value", "Document is Empty");
  await t.equal(JSON.parse(t.lastCall("POST", `/rc/v1/store/${encodeURIComponent(NOTE)}`).body), { data: null }, "clear sends data: null");
  await t.equal((await t.api("GET", `/rc/v1/store/${NOTE}`, token)).text, "", "the cleared document is gone");

  // --- Users: list, search, paging ----------------------------------------------------
  await t.go("#users", "users");
  await t.text("#user-summary", "1–50 of 2001");
  await t.equal(await page.locator("#user-rows tr").count(), 50, "one page shows 50 users");
  await t.text("#page-no", "Page 1 of 41");
  await t.shot("05-users");
  const started = Date.now();
  await page.fill("#user-search", "user19");
  await t.text("#user-summary", "1–50 of 100 (2001 in all)");
  await t.check(Date.now() - started < 1500, `searching 2,001 users took ${Date.now() - started} ms`);
  await page.click("#page-next");
  await t.text("#page-no", "Page 2 of 2");
  await t.text("#user-rows", "user1950");
  await t.check(!(await page.innerText("#user-rows")).includes("user1949"), "page 2 starts at user1950");
  await page.fill("#user-search", "");
  await page.click("#page-last");
  await t.text("#page-no", "Page 41 of 41");
  await t.text("#user-rows", "user1999");
  await page.click("#page-first");
  await t.text("#user-rows", "alice");

  // --- Create user → listed → show → delete ---------------------------------------------
  await page.click("#create-user");
  await t.screen("users");
  await t.visible("#new-user-form");
  await page.fill("#new-login", "bob");
  await page.fill("#new-password", "bobpw");
  await t.shot("06-new-user");
  await page.click('#new-user-form button[type="submit"]');
  await page.waitForFunction(() => location.hash === "#users");
  await page.fill("#user-search", "bob");
  await t.text("#user-rows", "bob");
  await page.click('#user-rows a[href="#user/bob"]');
  await t.screen("user");
  await t.text("#view h1", "User: bob");
  await t.text("#user-devices", "No devices registered.");
  await page.click("#delete-user");
  await page.waitForFunction(() => location.hash === "#users");
  await t.screen("users");
  const afterDelete = JSON.parse((await t.api("GET", "/rc/v1/users", token)).text);
  await t.check(!afterDelete.includes("bob"), "bob is deleted");
  await page.fill("#user-search", "bob");
  await t.text("#user-rows", "No user matches");
  await page.fill("#user-search", "");
  await page.click('#user-rows a[href="#user/alice"]');

  // --- Show user, device, source documents ---------------------------------------------
  await t.screen("user");
  await t.text("#user-sources", "Product");
  await t.text("#user-sources", "Catalog");
  const clients = JSON.parse((await t.api("GET", "/rc/v1/users/alice/clients", token)).text);
  await t.equal(clients.length, 1, "alice has one device");
  await t.text("#user-devices", clients[0]);
  await t.shot("07-user");
  await page.click(`#user-devices a`);
  await t.screen("device");
  await t.text("#view h1", `Device: ${clients[0]}`);
  await t.text("#view table.attributes", "APPLE");
  await t.text("#view table.attributes", "abcd1234");
  await t.shot("08-device");
  await page.click('#device-sources a:text("Product")');
  await t.screen("sources");
  await t.text("#docnames", "create_errors");
  await t.equal(await page.locator("#docnames tbody tr").count(), 24, "a device has 24 client documents");
  await t.go("#user/alice", "user");
  await page.click('#user-sources a:text("Product")');
  await t.screen("sources");
  await t.text("#docnames", MD);
  await t.text("#view table.attributes", "partition_type");
  await t.shot("09-source-docs");
  await page.click(`#docnames a:text("${MD}")`);
  await t.screen("doc");
  await t.text("#doc-value", "Pump");
  await t.go("#sources/Catalog", "sources");
  await t.text("#docnames", "source:application:__shared__:Catalog:md");

  // --- Ping one user, ping all ---------------------------------------------------------
  await t.go("#user/newping/alice", "user");
  await t.equal(
    await Promise.all(["#ping-message", "#ping-sources", "#ping-sound", "#ping-badge", "#ping-vibrate"].map((s) => page.inputValue(s))),
    ["push message", "Product", "welcome.mp3", "1", "2000"],
    "ping defaults",
  );
  await page.fill("#ping-message", "hello alice");
  await t.shot("10-ping");
  await page.click('#ping-form button[type="submit"]');
  await page.waitForFunction(() => location.hash === "#users");
  await t.equal(
    JSON.parse(t.lastCall("POST", "/rc/v1/users/ping").body),
    { user_id: ["alice"], message: "hello alice", vibrate: "2000", sound: "welcome.mp3", badge: "1", sources: ["Product"] },
    "ping body",
  );
  await t.go("#users/newping", "users");
  await t.text("#ping-recipients", "2001 users");
  await t.equal(await page.inputValue("#ping-sources"), "Product", "ping-all pre-fills every user-partitioned source");
  await page.click('#ping-form button[type="submit"]');
  await page.waitForFunction(() => location.hash === "#users");
  const all = JSON.parse(t.lastCall("POST", "/rc/v1/users/ping").body);
  await t.equal([all.user_id.length, all.user_id.includes("alice"), all.user_id.includes("user1999")], [2001, true, true], "ping-all users");

  // --- Statistics -------------------------------------------------------------------
  await t.go("#stats", "stats");
  const members = JSON.parse((await t.api("GET", "/rc/v1/system/stats?metric=users&start=0&finish=-1", token)).text);
  await t.check(members.length > 0, "the users series has points");
  await t.visible("#chart canvas");
  await t.text("#chart .chart-title", "User Count");
  await t.equal(await page.getAttribute("#chart", "data-points"), String(members.length), "the chart has every recorded point");
  await t.equal(await page.locator("#chart-data tbody tr").count(), members.length, "the chart's data table");
  await t.shot("11-stats");
  await page.click('#stats-nav button[data-entry="Device Count"]');
  await t.text("#chart", "Device Count"); // the chart or "No data for Device Count"
  await t.check((await page.locator("#stats-nav details").count()) === 4, "four statistics sections");
  // The timing of a route this page called, and of the Product adapter's query (the device's sync).
  const route = "http:GET:/rc/v1/users";
  await page.click('#stats-nav summary:text("HTTP Route Timing")');
  await page.click(`#stats-nav button[data-entry="${route}"]`);
  await t.text("#chart .chart-title", route);
  await t.visible("#chart canvas");
  await t.check(Number(await page.getAttribute("#chart", "data-points")) > 0, "the route's timing has points");
  await t.shot("11b-stats-route");
  await page.click('#stats-nav summary:text("Source Timing")');
  await page.click('#stats-nav button[data-entry="Source timing of Product"]');
  await t.text("#chart .chart-title", "Source timing of Product");
  await t.visible("#chart canvas");
  await t.check((await page.getAttribute("#chart", "data-series")).split("|").some((s) => s.startsWith("query:")), "the source's query timing is drawn");
  await t.check(Number(await page.getAttribute("#chart", "data-points")) > 0, "the source timing has points");
  await t.shot("11c-stats-source");

  // --- A 422 returns to Login; logout ---------------------------------------------------
  await page.evaluate(() => sessionStorage.setItem("apiKey", "not-a-token"));
  await t.go("#users", "login");
  await t.text("#alert", "session has ended");
  await t.equal(await page.evaluate(() => sessionStorage.getItem("authenticated")), null, "a 422 clears the session");
  await t.login("s3cret");
  await page.click("#logout-link");
  await t.screen("login");
  await t.check(await page.isHidden("#tabs"), "the tab bar is hidden after logout");
  await t.equal(await page.evaluate(() => sessionStorage.getItem("apiKey")), null, "logout clears the token");
});
