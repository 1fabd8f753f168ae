// The admin console: a static page over the REST API (docs/deploy.md §9). The API token lives in
// sessionStorage per tab; every call sends it in X-RhoConnect-API-TOKEN, and a 422 means it
// is no longer valid. Responses are parsed here, whatever their Content-Type.
"use strict";

const store = window.sessionStorage;
const $ = (id) => document.getElementById(id);

function showAlert(text) {
  $("alert").textContent = text;
  $("alert").hidden = !text;
}

async function api(method, path, body) {
  const headers = { "X-RhoConnect-API-TOKEN": store.getItem("apiKey") || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  if (response.status === 422) {
    logout();
    throw new Error(text);
  }
  if (!response.ok) throw new Error(text || `${response.status}`);
  return text;
}

function logout() {
  store.removeItem("apiKey");
  store.removeItem("authenticated");
  location.hash = "#login";
}

const screens = {
  async login() {},
  async home() {
    $("token").textContent = store.getItem("apiKey");
    const info = JSON.parse(await (await fetch("info")).text());
    $("sync-server").textContent = info.sync_server || location.origin + "/application";
    $("version").textContent = info.version;
  },
  async users() {
    const users = JSON.parse(await api("GET", "/rc/v1/users"));
    $("user-list").replaceChildren(...users.map((login) => {
      const li = document.createElement("li");
      li.textContent = login;
      return li;
    }));
  },
};

async function route() {
  showAlert("");
  let name = (location.hash || "#home").slice(1);
  if (name === "logout") return logout();
  const authenticated = store.getItem("authenticated") === "true";
  if (!authenticated || !(name in screens)) name = authenticated ? "home" : "login";
  for (const section of document.querySelectorAll("main section")) section.hidden = section.id !== name;
  $("tabs").hidden = !authenticated;
  for (const link of document.querySelectorAll("#tabs a")) link.classList.toggle("active", link.hash === "#" + name);
  try {
    await screens[name]();
  } catch (error) {
    showAlert(error.message);
  }
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const token = await api("POST", "/rc/v1/system/login", { login: form.get("login"), password: form.get("password") });
    store.setItem("apiKey", token.trim());
    store.setItem("authenticated", "true");
    location.hash = "#home";
    route();
  } catch (error) {
    showAlert(error.message);
  }
});

window.addEventListener("hashchange", route);
fetch("info").then((r) => r.json()).then((info) => { $("footer").textContent = `rhosync ${info.version}`; }).catch(() => {});
route();
