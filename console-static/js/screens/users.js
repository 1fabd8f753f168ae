// Users, New user, Show user, Show device and the Ping form (docs/console.md §2.4–§2.6).

import { call, get, seg } from "../api.js";
import { attributeTable, button, field, h, href, link, pageHeader, panel, statusLabel, table } from "../dom.js";

const PAGE_SIZE = 50;
/** Search and page survive a visit to a user and back. */
const listState = { query: "", page: 0 };

export async function list(ctx) {
  ctx.el.append(
    pageHeader("Registered Users", link("Create User", "#users/new", { class: "btn primary", id: "create-user" }), link("Ping Users", "#users/newping", { class: "btn", id: "ping-users" })),
  );
  const search = h("input", { type: "search", id: "user-search", value: listState.query, placeholder: "Search logins", "aria-label": "Search users", autocomplete: "off" });
  const summary = h("span", { class: "muted", id: "user-summary", role: "status" }, "Loading...");
  const rows = h("tbody", { id: "user-rows" }, h("tr", { class: "empty" }, h("td", {}, "Loading...")));
  const pager = h("nav", { class: "pager", id: "user-pager", "aria-label": "User pages" });
  ctx.el.append(
    panel(
      "Users",
      h("div", { class: "toolbar" }, search, summary),
      h("table", { class: "grid", id: "user-table" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Login"))), rows),
      pager,
    ),
  );
  const logins = await get("/rc/v1/users");
  let matches = logins;

  const draw = () => {
    const pages = Math.max(1, Math.ceil(matches.length / PAGE_SIZE));
    listState.page = Math.min(Math.max(0, listState.page), pages - 1);
    const start = listState.page * PAGE_SIZE;
    const shown = matches.slice(start, start + PAGE_SIZE);
    rows.replaceChildren(
      ...(shown.length
        ? shown.map((login) => h("tr", {}, h("td", {}, link(login, href("user", login)))))
        : [h("tr", { class: "empty" }, h("td", {}, listState.query ? `No user matches “${listState.query}”.` : "No users yet."))]),
    );
    summary.textContent = matches.length
      ? `${start + 1}–${start + shown.length} of ${matches.length}${matches.length === logins.length ? "" : ` (${logins.length} in all)`}`
      : `0 of ${logins.length}`;
    const go = (page) => () => {
      listState.page = page;
      draw();
    };
    const at = listState.page;
    pager.replaceChildren(
      pageButton("« First", go(0), at === 0, "first"),
      pageButton("‹ Prev", go(at - 1), at === 0, "prev"),
      h("span", { class: "page-no", id: "page-no" }, `Page ${at + 1} of ${pages}`),
      pageButton("Next ›", go(at + 1), at >= pages - 1, "next"),
      pageButton("Last »", go(pages - 1), at >= pages - 1, "last"),
    );
  };
  const filter = () => {
    const q = search.value.trim().toLowerCase();
    listState.query = search.value.trim();
    matches = q ? logins.filter((l) => l.toLowerCase().includes(q)) : logins;
  };
  search.addEventListener("input", () => {
    filter();
    listState.page = 0;
    draw();
  });
  filter();
  draw();
}

function pageButton(text, onclick, disabled, id) {
  const b = button(text, onclick, "btn small");
  b.disabled = disabled;
  b.id = `page-${id}`;
  return b;
}

export async function create(ctx) {
  ctx.el.append(pageHeader("New user"));
  const status = statusLabel();
  const form = h(
    "form",
    { id: "new-user-form", class: "stack" },
    field("Login", h("input", { name: "login", id: "new-login", required: true, autocomplete: "off" })),
    field("Password", h("input", { name: "password", id: "new-password", type: "password", autocomplete: "new-password" })),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, "Add"), link("Cancel", "#users", { class: "btn" }), status.el),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    status.set("loading");
    try {
      await call("POST", "/rc/v1/users", { attributes: { login: data.get("login"), password: data.get("password") } });
      ctx.navigate("#users");
    } catch (error) {
      status.set("error");
      ctx.alert(error.message);
    }
  });
  ctx.el.append(panel("Create a user", null, form));
}

export async function show(ctx) {
  const { user } = ctx.params;
  const remove = button(
    "Delete User",
    async () => {
      if (!window.confirm("Are you sure you want to delete this user?")) return;
      try {
        await call("DELETE", `/rc/v1/users/${seg(user)}`);
        ctx.navigate("#users");
      } catch (error) {
        ctx.alert(error.message);
      }
    },
    "btn danger",
  );
  remove.id = "delete-user";
  ctx.el.append(
    pageHeader(`User: ${user}`, link("Ping User", href("user", "newping", user), { class: "btn", id: "ping-user" }), link("Rejected writes", href("rejected", "*", user), { class: "btn", id: "user-rejected" }), remove),
  );
  const [attributes, sources, clients] = await Promise.all([
    get(`/rc/v1/users/${seg(user)}`),
    get("/rc/v1/sources/type/all"),
    get(`/rc/v1/users/${seg(user)}/clients`),
  ]);
  const shown = attributes.filter((a) => !["salt", "hashed_password", "clients", "token_id"].includes(a.name));
  ctx.el.append(
    h(
      "div",
      { class: "columns" },
      panel(
        "Sources",
        null,
        table(["Source"], sources.map((s) => [link(s, href("sources", s, user, "source", "-"))]), { id: "user-sources", empty: "No sources." }),
      ),
      panel(
        "Registered Devices",
        null,
        table(["Client id"], clients.map((c) => [link(c, href("device", c, user), { class: "mono" })]), { id: "user-devices", empty: "No devices registered." }),
      ),
    ),
    panel("Attributes", null, attributeTable(shown)),
  );
}

export async function device(ctx) {
  const { client, user } = ctx.params;
  const remove = button(
    "Delete Device",
    async () => {
      if (!window.confirm("Are you sure you want to delete this device?")) return;
      try {
        await call("DELETE", `/rc/v1/users/${seg(user)}/clients/${seg(client)}`);
        ctx.navigate(href("user", user));
      } catch (error) {
        ctx.alert(error.message);
      }
    },
    "btn danger",
  );
  remove.id = "delete-device";
  ctx.el.append(pageHeader(`Device: ${client}`, link(`User ${user}`, href("user", user), { class: "btn" }), remove));
  const [attributes, sources] = await Promise.all([get(`/rc/v1/clients/${seg(client)}`), get("/rc/v1/sources/type/all")]);
  ctx.el.append(
    h(
      "div",
      { class: "columns" },
      panel("Attributes", null, attributeTable(attributes)),
      panel(
        "Sources for device",
        null,
        table(["Source"], sources.map((s) => [link(s, href("sources", s, user, "client", client))]), { id: "device-sources", empty: "No sources." }),
      ),
    ),
  );
}

export async function pingOne(ctx) {
  const sources = await get("/rc/v1/sources/type/user");
  pingForm(ctx, [ctx.params.user], sources);
}

export async function pingAll(ctx) {
  const [logins, sources] = await Promise.all([get("/rc/v1/users"), get("/rc/v1/sources/type/user")]);
  pingForm(ctx, logins, sources);
}

/** The ping form, pre-filled with `users` and every user-partitioned source (docs/console.md §2.6). */
function pingForm(ctx, users, sources) {
  ctx.el.append(pageHeader("Ping User/s"));
  const status = statusLabel();
  const who = users.length === 1 ? users[0] : `${users.length} users`;
  const input = (name, value, attrs = {}) => h("input", { name, id: `ping-${name}`, value, ...attrs });
  const form = h(
    "form",
    { id: "ping-form", class: "stack" },
    h("input", { type: "hidden", name: "users", id: "ping-users-field", value: users.join(",") }),
    h("p", {}, "Recipients: ", h("strong", { id: "ping-recipients" }, who)),
    field("Message", input("message", "push message"), "Text shown in the notification."),
    field("Sources", input("sources", sources.join(","), { class: "wide" }), "Comma-separated sources the devices should sync; “all” or empty for every source."),
    field("Sound", input("sound", "welcome.mp3"), "A sound file bundled with the app."),
    field("Badge", input("badge", "1", { inputmode: "numeric" }), "The iOS badge number."),
    field("Vibrate", input("vibrate", "2000", { inputmode: "numeric" }), "Milliseconds."),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, "Ping!"), status.el),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const list = (text) => String(text).split(",").map((s) => s.trim()).filter(Boolean);
    status.set("loading");
    try {
      await call("POST", "/rc/v1/users/ping", {
        user_id: list(data.get("users")),
        message: data.get("message"),
        vibrate: data.get("vibrate"),
        sound: data.get("sound"),
        badge: data.get("badge"),
        sources: list(data.get("sources")),
      });
      ctx.navigate("#users");
    } catch (error) {
      status.set("error");
      ctx.alert(error.message);
    }
  });
  ctx.el.append(panel("Notification", null, form));
}
