// Shared helpers of the console's browser scripts (docs/console.md §6): start headless
// Chromium through playwright-core, record the API calls the page makes, and fail loudly
// with the screen's text when something does not match.

import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

export async function launch(base) {
  const executablePath = process.env.RHOSYNC_CHROMIUM || "/usr/bin/chromium";
  const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const calls = [];
  const errors = [];
  page.on("request", (r) => {
    const url = new URL(r.url());
    if (url.pathname.startsWith("/rc/v1/") || url.pathname === "/console/info") {
      calls.push({ method: r.method(), path: url.pathname, query: url.search, headers: r.headers(), body: r.postData(), at: Date.now(), request: r });
    }
  });
  page.on("requestfinished", (r) => {
    const c = calls.find((x) => x.request === r);
    if (c) c.doneAt = Date.now();
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && !/status of (4|5)\d\d/.test(m.text()) && errors.push(m.text()));
  page.on("dialog", (d) => d.accept());
  const shots = process.env.RHOSYNC_SCREENSHOTS;
  if (shots) mkdirSync(shots, { recursive: true });

  const t = {
    browser,
    page,
    calls,
    base,
    /** Throws with the message and what the screen shows. */
    async fail(message) {
      let text = "";
      try {
        text = await page.innerText("body");
      } catch (e) {
        text = `(no screen text: ${e})`;
      }
      throw new Error(`${message}\n  at ${page.url()}\n--- screen ---\n${text}\n--------------`);
    },
    async check(condition, message) {
      if (!condition) await t.fail(message);
    },
    async equal(actual, expected, message) {
      const a = JSON.stringify(actual);
      const e = JSON.stringify(expected);
      if (a !== e) await t.fail(`${message}: expected ${e}, got ${a}`);
    },
    /** Waits until `selector`'s text contains `text`. */
    async text(selector, text) {
      try {
        await page.waitForFunction(
          ([s, x]) => {
            const el = document.querySelector(s);
            return el && el.innerText.includes(x);
          },
          [selector, text],
          { timeout: 30_000 },
        );
      } catch {
        const got = await page.$eval(selector, (el) => el.innerText).catch(() => "(no such element)");
        await t.fail(`expected ${selector} to contain ${JSON.stringify(text)}, it shows ${JSON.stringify(got)}`);
      }
    },
    async visible(selector) {
      try {
        await page.waitForSelector(selector, { state: "visible", timeout: 30_000 });
      } catch {
        await t.fail(`expected ${selector} to be visible`);
      }
    },
    /** Goes to a fragment and waits for that screen's view. */
    async go(hash, screen) {
      await page.evaluate((h) => (location.hash = h), hash);
      await t.screen(screen);
    },
    async screen(name) {
      try {
        await page.waitForSelector(`#view .view[data-screen="${name}"]`, { timeout: 30_000 });
      } catch {
        await t.fail(`expected the ${name} screen`);
      }
    },
    /** The last recorded call matching method and path (a string or RegExp). */
    lastCall(method, path) {
      const hits = calls.filter((c) => c.method === method && (path instanceof RegExp ? path.test(c.path) : c.path === path));
      return hits[hits.length - 1];
    },
    async waitCall(method, path) {
      for (let i = 0; i < 100; i++) {
        const c = t.lastCall(method, path);
        if (c) {
          await c.request.response();
          for (let j = 0; j < 100 && !c.doneAt; j++) await page.waitForTimeout(20);
          return c;
        }
        await page.waitForTimeout(100);
      }
      await t.fail(`the console never called ${method} ${path}`);
    },
    /** Screenshots of the screen at 1440 px (`<name>.png`) and at 390 px (`<name>-390.png`). */
    async shot(name) {
      if (!shots) return;
      const size = page.viewportSize();
      for (const [width, height, suffix] of [[1440, 900, ""], [390, 844, "-390"]]) {
        await page.setViewportSize({ width, height });
        await page.waitForTimeout(200);
        await page.screenshot({ path: `${shots}/${name}${suffix}.png`, fullPage: true });
        // Readable on a phone: nothing makes the page wider than the screen.
        const pageWidth = await page.evaluate(() => document.documentElement.scrollWidth);
        if (pageWidth > width) await t.fail(`${name}: the page is ${pageWidth} px wide on a ${width} px screen`);
      }
      await page.setViewportSize(size);
    },
    /** A REST call from the test itself (not the page), with the token. */
    async api(method, path, token, body) {
      const response = await fetch(base + path, {
        method,
        headers: { "X-RhoConnect-API-TOKEN": token, ...(body ? { "Content-Type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: response.status, text: await response.text() };
    },
    async login(password = "") {
      await page.goto(`${base}/console/#login`);
      await t.screen("login");
      await page.fill('#login-form input[name="password"]', password);
      await page.click('#login-form button[type="submit"]');
      await t.screen("home");
    },
    async done() {
      if (errors.length) await t.fail(`errors in the page:\n${errors.join("\n")}`);
      await browser.close();
    },
  };
  return t;
}

/** Runs `body(t)`; prints the failure and exits 1 on any error. */
export async function run(body) {
  const [base, token] = process.argv.slice(2);
  if (!base || !token) {
    console.error("usage: node <script>.mjs <base url> <api token>");
    process.exit(2);
  }
  let t;
  try {
    t = await launch(base.replace(/\/$/, ""));
    await body(t, token);
    await t.done();
    console.log("browser checks passed");
  } catch (error) {
    console.error(`FAILED: ${error.stack || error}`);
    if (t) await t.browser.close().catch(() => {});
    process.exit(1);
  }
}
