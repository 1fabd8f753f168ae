// Small DOM helpers shared by the screens: element building, tables, status labels.

/** Builds an element: h("a", {href: "#x", class: "btn"}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A fragment link: `#` + the segments, each URL-encoded. */
export function href(...segments) {
  return "#" + segments.map((s) => encodeURIComponent(s)).join("/");
}

export function link(text, target, attrs = {}) {
  return h("a", { href: target, ...attrs }, text);
}

/** A table with a header row and one row per entry of `rows` (arrays of cells). */
export function table(headers, rows, { empty = "Nothing here yet.", caption, id, cls } = {}) {
  const body = rows.length
    ? rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))
    : [h("tr", { class: "empty" }, h("td", { colspan: headers.length }, empty))];
  return h(
    "table",
    { class: cls || "grid", id },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, body),
  );
}

/** `name | value` rows of `{name, value}` entries whose value is neither null nor empty. */
export function attributeTable(entries, caption) {
  const rows = entries
    .filter((e) => e.value !== null && e.value !== undefined && e.value !== "")
    .map((e) => [h("code", {}, e.name), typeof e.value === "object" ? JSON.stringify(e.value) : String(e.value)]);
  return table(["Name", "Value"], rows, { caption, cls: "grid attributes", empty: "No attributes." });
}

/** A status label: `loading...` → `success` / `error`, announced to screen readers. */
export function statusLabel() {
  const el = h("span", { class: "status", role: "status", "aria-live": "polite" });
  return {
    el,
    set(state) {
      el.textContent = state === "loading" ? "loading..." : state || "";
      el.dataset.state = state || "";
    },
  };
}

/** A panel: heading, optional actions on the right, then the content. */
export function panel(title, actions, ...content) {
  return h(
    "section",
    { class: "panel" },
    h("div", { class: "panel-head" }, h("h2", {}, title), actions ? h("div", { class: "actions" }, actions) : null),
    content,
  );
}

export function pageHeader(title, ...actions) {
  return h("div", { class: "page-head" }, h("h1", {}, title), actions.length ? h("div", { class: "actions" }, actions) : null);
}

export function button(text, onclick, cls = "btn") {
  return h("button", { type: "button", class: cls, onclick }, text);
}

/** A labelled form field (the label wraps the control). */
export function field(label, control, hint) {
  return h("label", { class: "field" }, h("span", { class: "label" }, label), control, hint ? h("small", {}, hint) : null);
}

export function formatTime(text) {
  if (!text) return "";
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? text : d.toLocaleString();
}
