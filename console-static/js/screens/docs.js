// Server Doc and Document view: read, write and clear any document by its name
// (docs/console.md §2.3; the store routes are docs/rest-api.md §5.3).

import { call, seg } from "../api.js";
import { button, field, h, pageHeader, panel, statusLabel } from "../dom.js";

export async function docselect(ctx) {
  ctx.el.append(pageHeader("Server Doc"));
  const status = statusLabel();
  const key = h("input", { name: "key", id: "doc-key", required: true, placeholder: "source:application:alice:Product:md", class: "wide" });
  const result = h("div", { id: "doc-result" });
  const form = h(
    "form",
    { class: "inline", id: "docselect-form" },
    field("Document key", key),
    h("button", { type: "submit", class: "btn primary" }, "Submit"),
    status.el,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.set("loading");
    try {
      await docPanel(ctx, key.value.trim(), result);
      status.set("success");
    } catch (error) {
      status.set("error");
      ctx.alert(error.message);
    }
  });
  ctx.el.append(panel("Look up a document", null, h("p", { class: "muted" }, "Any cache document, by its RhoConnect name (docs/rest-api.md §5.1)."), form), result);
}

export async function doc(ctx) {
  const { dbkey, source } = ctx.params;
  ctx.el.append(pageHeader(`Document ${dbkey}`), h("p", { class: "muted" }, source));
  const result = h("div", { id: "doc-result" });
  ctx.el.append(result);
  await docPanel(ctx, dbkey, result);
}

/** Renders document `key` into `box`: its value, a clear button and a form to write it. */
async function docPanel(ctx, key, box) {
  const path = `/rc/v1/store/${seg(key)}`;
  const value = h("div", { id: "doc-value" });
  const show = (text) => value.replaceChildren(render(text));
  show(await call("GET", path));

  const clearStatus = statusLabel();
  const clear = button(
    "clear document",
    async () => {
      clearStatus.set("loading");
      try {
        await call("POST", path, { data: null });
        clearStatus.set("success");
        show("");
      } catch (error) {
        clearStatus.set("error");
        ctx.alert(error.message);
      }
    },
    "btn danger small",
  );
  clear.id = "doc-clear";

  const status = statusLabel();
  const input = h("textarea", { id: "doc-input", name: "value", rows: 4, class: "wide mono" });
  const asJson = h("input", { type: "checkbox", id: "doc-json", name: "json" });
  const form = h(
    "form",
    { id: "doc-form" },
    field("Document value", input, "Stored as a string document unless the value is marked as JSON."),
    h("label", { class: "check" }, asJson, " Value is JSON (an object map or a list)"),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, "Submit"), status.el),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.set("loading");
    try {
      const data = asJson.checked ? JSON.parse(input.value) : input.value;
      await call("POST", path, { data });
      show(await call("GET", path));
      status.set("success");
    } catch (error) {
      status.set("error");
      ctx.alert(error.message);
    }
  });
  box.replaceChildren(
    panel(h("span", {}, "Data ", h("code", { class: "docname" }, key)), [clearStatus.el, clear], value),
    panel("Write this document", null, form),
  );
}

function render(text) {
  if (text.trim() === "") return h("p", { class: "empty-doc" }, "Document is Empty");
  let shown = text;
  try {
    const parsed = JSON.parse(text);
    shown = typeof parsed === "string" ? parsed : JSON.stringify(parsed, null, 2);
  } catch {
    // a raw string document: shown as it is
  }
  return h("pre", { class: "doc" }, shown);
}
