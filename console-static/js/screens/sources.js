// Source documents: a source's attributes and the names of its documents for the shared
// partition, a user or a device, each linking to the document view (docs/console.md §2.7).

import { get, seg } from "../api.js";
import { attributeTable, h, href, link, pageHeader, panel, table } from "../dom.js";

export async function shared(ctx) {
  await render(ctx, ctx.params.source, `/rc/v1/users/*/sources/${seg(ctx.params.source)}/docnames`, "Shared documents");
}

export async function partition(ctx) {
  const { source, user, doctype, client } = ctx.params;
  if (doctype === "client") {
    await render(ctx, source, `/rc/v1/clients/${seg(client)}/sources/${seg(source)}/docnames`, `Documents of device ${client}`, [
      link(`Device ${client}`, href("device", client, user), { class: "btn" }),
    ]);
  } else {
    await render(ctx, source, `/rc/v1/users/${seg(user)}/sources/${seg(source)}/docnames`, `Documents of user ${user}`, [
      link(`User ${user}`, href("user", user), { class: "btn" }),
      link("Rejected writes", href("rejected", source, user), { class: "btn" }),
    ]);
  }
}

async function render(ctx, source, docnamesPath, title, actions = []) {
  ctx.el.append(pageHeader(source, ...actions));
  const [attributes, docnames] = await Promise.all([get(`/rc/v1/sources/${seg(source)}`), get(docnamesPath)]);
  const rows = Object.entries(docnames || {}).map(([type, name]) => [
    h("code", {}, type),
    link(name, href("doc", name, `source_id=${source}`), { class: "mono docname" }),
  ]);
  ctx.el.append(
    h(
      "div",
      { class: "columns" },
      panel(title, null, table(["Document", "Name"], rows, { id: "docnames", empty: "No documents." })),
      panel(
        "Attributes",
        null,
        attributeTable(attributes),
        h("p", { class: "muted" }, "What each setting means: docs/adapters.md and docs/configuration.md of the rhosync repository."),
      ),
    ),
  );
}
