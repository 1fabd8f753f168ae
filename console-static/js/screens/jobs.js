// Jobs: the queues with their dead-letter queues, recent bulk jobs and pings, a DLQ's
// messages with Replay / Discard, and the rejected writes with Retry / Dismiss
// (docs/console.md §4, where the routes are listed).

import { get, json, seg } from "../api.js";
import { button, field, formatTime, h, href, link, pageHeader, panel, statusLabel, table } from "../dom.js";

const QUEUES = ["adapter", "push", "bulk"];

export async function overview(ctx) {
  ctx.el.append(pageHeader("Jobs", link("Rejected writes", "#rejected", { class: "btn", id: "rejected-link" }), button("Refresh", () => ctx.navigate("#jobs"))));
  const jobs = await get("/rc/v1/system/jobs");
  const queueRows = (jobs.queues || []).map((q) => [
    h("strong", {}, q.name),
    num(q.depth),
    num(q.in_flight),
    q.dead_letter && q.dead_letter.depth > 0
      ? link(`${q.dead_letter.depth} dead letters`, href("jobs", q.name, "dead_letters"), { class: "badge bad", dataset: { queue: q.name } })
      : link("0", href("jobs", q.name, "dead_letters"), { class: "badge ok", dataset: { queue: q.name } }),
  ]);
  const bulkRows = (jobs.bulk || []).map((b) => [
    h("span", { class: "mono" }, b.name),
    b.partition,
    b.user ? link(b.user, href("user", b.user)) : "—",
    stateBadge(b.state),
    b.progress || "",
    b.error ? h("span", { class: "error-text" }, b.error) : "",
    formatTime(b.updated_at),
  ]);
  const pingRows = (jobs.pings || []).map((p) => [
    formatTime(p.at),
    usersCell(p.users || []),
    p.message ?? h("span", { class: "muted" }, "silent"),
    num(p.sent),
    num(p.failed),
    num(p.pruned),
    num(p.retrying),
    Object.entries(p.platforms || {})
      .map(([name, c]) => `${name}: ${c.sent} sent, ${c.failed} failed`)
      .join("; "),
  ]);
  ctx.el.append(
    panel("Queues", null, table(["Queue", "Depth", "In flight", "Dead-letter queue"], queueRows, { id: "queues", empty: "No queues." })),
    panel("Recent bulk jobs", null, table(["Name", "Partition", "User", "State", "Progress", "Error", "Updated"], bulkRows, { id: "bulk-jobs", empty: "No bulk jobs yet." })),
    panel("Recent pings", null, table(["At", "Users", "Message", "Sent", "Failed", "Pruned", "Retrying", "Platforms"], pingRows, { id: "pings", empty: "No pings yet." })),
  );
}

export async function deadLetters(ctx) {
  const { queue } = ctx.params;
  ctx.el.append(pageHeader(`Dead letters: ${queue} queue`, link("Jobs", "#jobs", { class: "btn" })));
  if (!QUEUES.includes(queue)) throw new Error(`Unknown queue ${queue}`);
  const base = `/rc/v1/system/jobs/${seg(queue)}/dead_letters`;
  const messages = await get(`${base}?max=100`);
  const status = statusLabel();
  const picker = selection(messages, (m) => m.id);
  const act = (verb, key) => async () => {
    const ids = picker.selected().map((m) => m.id);
    if (!ids.length) return ctx.alert("Select at least one message.");
    if (verb === "discard" && !window.confirm(`Discard ${ids.length} message(s) for good?`)) return;
    status.set("loading");
    try {
      const answer = await json("POST", `${base}/${verb}`, { ids });
      ctx.navigate(location.hash);
      flash(`${verb === "replay" ? "Replayed" : "Discarded"} ${answer[key]} message(s).`);
    } catch (error) {
      status.set("error");
      ctx.alert(error.message);
    }
  };
  const rows = messages.map((m, i) => [
    picker.box(i, `Select message ${m.id}`),
    m.kind,
    m.source || "—",
    m.user ? link(m.user, href("user", m.user)) : "—",
    m.client ? h("span", { class: "mono" }, m.client) : "—",
    m.error ? h("span", { class: "error-text" }, m.error) : "",
    num(m.receive_count),
    formatTime(m.sent_at),
    h("details", {}, h("summary", {}, "body"), h("pre", { class: "doc small" }, JSON.stringify(m.body, null, 2))),
  ]);
  const replay = button("Replay", act("replay", "replayed"), "btn primary");
  replay.id = "dlq-replay";
  const discard = button("Discard", act("discard", "discarded"), "btn danger");
  discard.id = "dlq-discard";
  ctx.el.append(
    panel(
      `${messages.length} message(s)`,
      [status.el, replay, discard],
      table([picker.all, "Kind", "Source", "User", "Client", "Error", "Receives", "Sent at", "Message"], rows, { id: "dead-letters", empty: "The dead-letter queue is empty." }),
    ),
  );
}

export async function rejected(ctx) {
  const source = ctx.params.source && ctx.params.source !== "*" ? ctx.params.source : "";
  const user = ctx.params.user && ctx.params.user !== "*" ? ctx.params.user : "";
  ctx.el.append(pageHeader("Rejected writes", link("Jobs", "#jobs", { class: "btn" })));
  const sourceIn = h("input", { name: "source", id: "rejected-source", value: source, placeholder: "any" });
  const userIn = h("input", { name: "user", id: "rejected-user", value: user, placeholder: "any" });
  const filter = h("form", { class: "inline", id: "rejected-filter" }, field("Source", sourceIn), field("User", userIn), h("button", { type: "submit", class: "btn" }, "Filter"));
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.navigate(href("rejected", sourceIn.value.trim() || "*", userIn.value.trim() || "*"));
  });
  ctx.el.append(panel("Filter", null, filter));
  const query = new URLSearchParams();
  if (source) query.set("source_id", source);
  if (user) query.set("user_id", user);
  const writes = await get(`/rc/v1/system/rejected_writes${query.size ? `?${query}` : ""}`);
  const status = statusLabel();
  const picker = selection(writes, (w) => `${w.source}/${w.user}/${w.client}/${w.op}/${w.object}`);
  const act = (verb, key) => async () => {
    const chosen = picker.selected();
    if (!chosen.length) return ctx.alert("Select at least one write.");
    if (verb === "dismiss" && !window.confirm(`Dismiss ${chosen.length} rejected write(s)?`)) return;
    // One request per (source, user, client, op), as the route takes them.
    const groups = new Map();
    for (const w of chosen) {
      const k = JSON.stringify([w.source, w.user, w.client, w.op]);
      if (!groups.has(k)) groups.set(k, { source: w.source, user: w.user, client: w.client, op: w.op, objects: [] });
      groups.get(k).objects.push(w.object);
    }
    status.set("loading");
    try {
      let n = 0;
      for (const body of groups.values()) n += (await json("POST", `/rc/v1/system/rejected_writes/${verb}`, body))[key] || 0;
      ctx.navigate(location.hash);
      flash(`${verb === "retry" ? "Retried" : "Dismissed"} ${n} write(s).`);
    } catch (error) {
      status.set("error");
      ctx.alert(error.message);
    }
  };
  const rows = writes.map((w, i) => [
    picker.box(i, `Select write ${w.op} ${w.object}`),
    w.source,
    link(w.user, href("user", w.user)),
    h("span", { class: "mono" }, w.client),
    w.op,
    h("span", { class: "mono" }, w.object),
    h("code", { class: "attrs" }, JSON.stringify(w.attributes || {})),
    h("span", { class: "error-text" }, w.error),
  ]);
  const retry = button("Retry", act("retry", "retried"), "btn primary");
  retry.id = "rejected-retry";
  const dismiss = button("Dismiss", act("dismiss", "dismissed"), "btn danger");
  dismiss.id = "rejected-dismiss";
  ctx.el.append(
    panel(
      `${writes.length} rejected write(s)`,
      [status.el, retry, dismiss],
      table([picker.all, "Source", "User", "Client", "Op", "Object", "Attributes", "Error"], rows, { id: "rejected-writes", empty: "No rejected writes." }),
    ),
  );
}

/** Row checkboxes plus a select-all box for a header cell. */
function selection(items, key) {
  const boxes = items.map((item, i) => h("input", { type: "checkbox", class: "pick", value: key(item), dataset: { index: i } }));
  const all = h("input", { type: "checkbox", "aria-label": "Select all", class: "pick-all" });
  all.addEventListener("change", () => boxes.forEach((b) => (b.checked = all.checked)));
  return {
    all,
    box: (i, label) => {
      boxes[i].setAttribute("aria-label", label);
      return boxes[i];
    },
    selected: () => items.filter((_, i) => boxes[i].checked),
  };
}

/** A short message that survives the re-render after an action. */
function flash(text) {
  setTimeout(() => {
    const view = document.querySelector("#view .view");
    if (view) view.prepend(h("p", { class: "flash", role: "status", id: "flash" }, text));
  }, 50);
}

function num(n) {
  return h("span", { class: "num" }, n === undefined || n === null ? "—" : String(n));
}

function stateBadge(state) {
  const cls = state === "done" ? "ok" : state === "failed" ? "bad" : "busy";
  return h("span", { class: `badge ${cls}` }, state);
}

function usersCell(users) {
  if (users.length <= 3) return users.map((u, i) => [i ? ", " : "", link(u, href("user", u))]);
  return `${users.slice(0, 3).join(", ")} and ${users.length - 3} more`;
}
