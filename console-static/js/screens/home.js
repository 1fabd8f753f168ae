// Login, Home and the Backend App URL form (docs/console.md §2.1, §2.2).

import { call, consoleInfo, get, session } from "../api.js";
import { button, field, h, href, link, pageHeader, panel, statusLabel, table } from "../dom.js";

export async function login(ctx) {
  const status = statusLabel();
  const form = h(
    "form",
    { class: "card login-card", id: "login-form", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Log in to the console"),
    h("p", { class: "muted" }, "Use an admin account of this rhosync server."),
    field("Login", h("input", { name: "login", value: "rhoadmin", autocomplete: "username", required: true })),
    field("Password", h("input", { name: "password", type: "password", autocomplete: "current-password" })),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, "Login"), status.el),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    status.set("loading");
    // Not through api.call: a 422 here is a refused login, not an expired session.
    try {
      const response = await fetch("/rc/v1/system/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ login: data.get("login"), password: data.get("password") }),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(text || `HTTP ${response.status}`);
      session.start(text.trim());
      ctx.navigate("#home");
    } catch (error) {
      status.set("error");
      ctx.alert(error.message);
    }
  });
  ctx.el.append(h("div", { class: "login-wrap" }, form));
}

export async function home(ctx) {
  ctx.el.append(pageHeader("Home"));
  const sourcesBox = h("div", {}, h("p", { class: "muted" }, "Loading..."));
  const adapterBox = h("div");
  const settings = h("tbody");
  const reset = resetControl(ctx);
  ctx.el.append(
    panel("App partition sources", null, sourcesBox),
    panel("Settings", null, h("table", { class: "grid settings" }, settings)),
    h("div", { class: "danger-zone" }, reset),
  );
  // The three reads go out together (docs/console.md §2.2).
  const [sources, info, appserver] = await Promise.allSettled([get("/rc/v1/sources/type/app"), consoleInfo(), appserverUrl()]);
  if (sources.status === "rejected") throw sources.reason;
  sourcesBox.replaceChildren(
    table(["Source"], sources.value.map((name) => [link(name, href("sources", name))]), {
      empty: "No app-partitioned sources.",
      id: "app-sources",
    }),
  );
  const syncServer = info.value.sync_server || `${location.origin}/application`;
  settings.append(
    settingRow("Sync Server", h("code", { id: "sync-server" }, syncServer), "Paste this URL into your client app configuration to sync with this server."),
    settingRow("Change Admin Password", passwordForm(ctx), "The default admin password is empty."),
    settingRow("API Token", tokenToggle(), "Send this token in the X-RhoConnect-API-TOKEN header of every API call."),
    settingRow("Backend App URL", adapterBox, "Required when using plugin backends, e.g. http://localhost:3000 for a local Rails app."),
  );
  adapterBox.append(adapterForm(ctx, appserver.status === "fulfilled" ? appserver.value : null));
  if (appserver.status === "rejected") ctx.alert(appserver.reason.message);
  if (!info.value.stats) {
    ctx.el.insertBefore(
      h("p", { class: "note", id: "stats-note" }, "Statistics are unavailable: they are off on this server. Set ", h("code", {}, ":stats: true"), " in the settings file to record them (docs/configuration.md)."),
      ctx.el.lastChild,
    );
  }
}

export async function adapter(ctx) {
  ctx.el.append(pageHeader("Backend App URL"));
  const url = await appserverUrl();
  ctx.el.append(
    panel("Backend App URL", null, h("p", { class: "muted" }, "Required when using plugin backends, e.g. http://localhost:3000 for a local Rails app."), adapterForm(ctx, url)),
  );
}

async function appserverUrl() {
  const answer = await get("/rc/v1/system/appserver");
  return answer && answer.adapter_url;
}

function settingRow(name, control, hint) {
  return h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, control), h("td", { class: "hint" }, hint));
}

function passwordForm(ctx) {
  const status = statusLabel();
  const input = h("input", { type: "password", id: "admin-password", autocomplete: "new-password", "aria-label": "New admin password" });
  const form = h("form", { class: "inline", id: "password-form" }, input, h("button", { type: "submit", class: "btn" }, "Save"), status.el);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.set("loading");
    try {
      await call("PUT", "/rc/v1/users/rhoadmin", { attributes: { login: "rhoadmin", password: input.value } });
      status.set("success");
      input.value = "";
    } catch (error) {
      status.set("error");
      ctx.alert(error.message);
    }
  });
  return form;
}

function tokenToggle() {
  const value = h("code", { id: "api-token", hidden: true }, session.token);
  const toggle = button("Show", () => {
    value.hidden = !value.hidden;
    toggle.textContent = value.hidden ? "Show" : "Hide";
    toggle.setAttribute("aria-expanded", String(!value.hidden));
  });
  toggle.id = "token-toggle";
  toggle.setAttribute("aria-controls", "api-token");
  toggle.setAttribute("aria-expanded", "false");
  return h("div", { class: "inline" }, toggle, value);
}

function adapterForm(ctx, current) {
  const status = statusLabel();
  const input = h("input", { type: "url", id: "adapter-url", value: current || "", placeholder: "http://localhost:3000", "aria-label": "Backend app URL" });
  const form = h("form", { class: "inline", id: "adapter-form" }, input, h("button", { type: "submit", class: "btn" }, "Save"), status.el);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.set("loading");
    try {
      await call("POST", "/rc/v1/system/appserver", { adapter_url: input.value });
      status.set("success");
    } catch (error) {
      status.set("error");
      ctx.alert(error.message);
    }
  });
  return form;
}

function resetControl(ctx) {
  const status = statusLabel();
  const reset = button(
    "Reset",
    async () => {
      if (!window.confirm("Are you sure you want to reset?")) return;
      status.set("loading");
      try {
        await call("POST", "/rc/v1/system/reset");
        status.set("success");
        ctx.alert("");
        status.el.textContent = "success: every user and document is gone and the admin password is back to its initial value; your token still works.";
      } catch (error) {
        status.set("error");
        ctx.alert(error.message);
      }
    },
    "btn danger",
  );
  reset.id = "reset";
  return [status.el, reset];
}
