// The console's shell: the fragment router, the top bar and tab bar, the alert box
// (docs/console.md §1). Each screen module renders into a fresh view element; a screen
// that finishes after the user moved on writes into a detached element, so it never
// overwrites the screen shown now.

import { consoleInfo, session, setExpiredHandler } from "./js/api.js";
import * as home from "./js/screens/home.js";
import * as docs from "./js/screens/docs.js";
import * as users from "./js/screens/users.js";
import * as sources from "./js/screens/sources.js";
import * as stats from "./js/screens/stats.js";
import * as jobs from "./js/screens/jobs.js";

const $ = (id) => document.getElementById(id);

/** [pattern, screen, tab]; pattern segments starting with ":" are parameters. */
const ROUTES = [
  ["home", home.home, "home"],
  ["login", home.login, null],
  ["adapter", home.adapter, "home"],
  ["docselect", docs.docselect, "docselect"],
  ["doc/:dbkey/:source", docs.doc, "docselect"],
  ["users", users.list, "users"],
  ["users/new", users.create, "users"],
  ["users/newping", users.pingAll, "users"],
  ["user/newping/:user", users.pingOne, "users"],
  ["user/:user", users.show, "users"],
  ["device/:client/:user", users.device, "users"],
  ["sources/:source", sources.shared, "home"],
  ["sources/:source/:user/:doctype/:client", sources.partition, "users"],
  ["stats", stats.screen, "stats"],
  ["jobs", jobs.overview, "jobs"],
  ["jobs/:queue/dead_letters", jobs.deadLetters, "jobs"],
  ["rejected", jobs.rejected, "jobs"],
  ["rejected/:source/:user", jobs.rejected, "jobs"],
];

function match(hash) {
  const parts = hash.replace(/^#/, "").split("/").filter((p, i) => p !== "" || i === 0);
  const segments = parts.map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  if (segments.length === 1 && segments[0] === "") segments[0] = "home";
  for (const [pattern, screen, tab] of ROUTES) {
    const names = pattern.split("/");
    if (names.length !== segments.length) continue;
    const params = {};
    if (names.every((n, i) => (n.startsWith(":") ? ((params[n.slice(1)] = segments[i]), true) : n === segments[i]))) {
      return { screen, tab, params, name: names[0] };
    }
  }
  return null;
}

let generation = 0;
let pendingAlert = "";

export function showAlert(text) {
  const box = $("alert");
  box.textContent = text || "";
  box.hidden = !text;
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const mine = ++generation;
  showAlert(pendingAlert);
  pendingAlert = "";
  if (location.hash === "#logout") {
    session.clear();
    return navigate("#login");
  }
  let found = match(location.hash || "#home");
  if (!session.authenticated) found = match("#login");
  else if (!found || found.name === "login") found = match("#home");
  const info = await consoleInfo();
  if (mine !== generation) return;
  layout(found.tab, info);
  const view = document.createElement("div");
  view.className = "view";
  view.dataset.screen = found.name;
  $("view").replaceChildren(view);
  const ctx = {
    el: view,
    params: found.params,
    info,
    current: () => mine === generation,
    alert: (text) => mine === generation && showAlert(text),
    navigate,
  };
  try {
    await found.screen(ctx);
  } catch (error) {
    if (ctx.current() && error.status !== 422) showAlert(error.message);
  }
}

function layout(tab, info) {
  const authenticated = session.authenticated;
  $("tabs").hidden = !authenticated;
  $("logout-link").hidden = !authenticated;
  $("login-link").hidden = authenticated;
  document.body.classList.toggle("logged-in", authenticated);
  for (const a of document.querySelectorAll("#tabs a")) {
    const active = a.dataset.tab === tab;
    a.classList.toggle("active", active);
    if (active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const statsTab = document.querySelector('#tabs a[data-tab="stats"]');
  statsTab.classList.toggle("disabled", !info.stats);
  statsTab.setAttribute("aria-disabled", String(!info.stats));
  statsTab.title = info.stats ? "" : "Statistics are off (set :stats: true in the settings)";
}

setExpiredHandler((text) => {
  pendingAlert = `Your session has ended (${text || "the API token is no longer valid"}). Please log in again.`;
  generation++;
  navigate("#login");
});

window.addEventListener("hashchange", route);
consoleInfo().then((info) => {
  $("footer-version").textContent = info.version ? `rhosync ${info.version}` : "rhosync";
});
route();
