// The Jobs and Rejected writes screens against a seeded server (tests/tests/console_browser.rs):
//   node tests/browser/jobs.mjs <base url> <api token>
// Seeded: user alice, two ping jobs on the push queue's dead-letter queue, and two creates of
// alice's device that source Item's backend refused (tmp-1 Bolt, tmp-2 with markup in its name).

import { run } from "./lib.mjs";

run(async (t, token) => {
  const { page } = t;
  await t.login();

  await t.go("#jobs", "jobs");
  await t.text("#queues", "adapter");
  await t.text("#queues", "bulk");
  await t.text('#queues a[data-queue="push"]', "2 dead letters");
  await t.visible("#bulk-jobs");
  await t.visible("#pings");
  await t.shot("12-jobs");

  await page.click('#queues a[data-queue="push"]');
  await t.screen("jobs");
  await t.visible("#dead-letters");
  await t.equal(await page.locator("#dead-letters tbody tr").count(), 2, "two dead letters listed");
  await t.text("#dead-letters", "ping");
  await t.text("#dead-letters", "alice");
  await t.shot("13-dead-letters");

  const first = await page.getAttribute("#dead-letters tbody tr:first-child input.pick", "value");
  await page.check("#dead-letters tbody tr:first-child input.pick");
  await page.click("#dlq-replay");
  await t.text("#flash", "Replayed 1");
  await t.equal(JSON.parse(t.lastCall("POST", "/rc/v1/system/jobs/push/dead_letters/replay").body), { ids: [first] }, "replay body");
  // The screen lists the queue again after the replay: wait for that listing.
  await t.text("#view .panel-head h2", "1 message(s)");
  await t.equal(await page.locator("#dead-letters tbody tr").count(), 1, "one dead letter left");
  const left = JSON.parse((await t.api("GET", "/rc/v1/system/jobs/push/dead_letters", token)).text);
  await t.equal(left.length, 1, "the replayed message left the DLQ");

  await page.check("#dead-letters thead input.pick-all");
  await page.click("#dlq-discard");
  await t.text("#flash", "Discarded 1");
  await t.text("#dead-letters", "The dead-letter queue is empty.");
  const none = JSON.parse((await t.api("GET", "/rc/v1/system/jobs/push/dead_letters", token)).text);
  await t.equal(none.length, 0, "the discarded message is gone");

  await t.go("#user/alice", "user");
  await page.click("#user-rejected");
  await t.screen("rejected");
  await t.equal(await page.inputValue("#rejected-user"), "alice", "the user filter is pre-filled");
  const listed = await t.waitCall("GET", "/rc/v1/system/rejected_writes");
  await t.check(new URLSearchParams(listed.query).get("user_id") === "alice", `rejected writes filtered by user: ${listed.query}`);
  await t.visible("#rejected-writes");
  await t.equal(await page.locator("#rejected-writes tbody tr").count(), 2, "the two refused creates are listed");
  await t.text("#rejected-writes", "422 Unprocessable Entity");
  await t.text("#rejected-writes", '"name":"<img src=x onerror=alert(1)>"');
  await t.equal(await page.locator("#rejected-writes img").count(), 0, "an attribute's markup shows as text");
  await t.shot("14-rejected");

  // Retry tmp-1 (the backend accepts it now), then dismiss tmp-2.
  await page.check('#rejected-writes input.pick[value$="/create/tmp-1"]');
  await page.click("#rejected-retry");
  await t.text("#flash", "Retried 1");
  const retried = JSON.parse(t.lastCall("POST", "/rc/v1/system/rejected_writes/retry").body);
  await t.equal([retried.source, retried.user, retried.op, retried.objects], ["Item", "alice", "create", ["tmp-1"]], "retry body");
  await t.text("#view .panel:has(#rejected-writes) .panel-head h2", "1 rejected write(s)");
  await t.text("#rejected-writes", "tmp-2");
  await page.check("#rejected-writes thead input.pick-all");
  await page.click("#rejected-dismiss");
  await t.text("#flash", "Dismissed 1");
  await t.text("#rejected-writes", "No rejected writes.");
  const rejectedLeft = JSON.parse((await t.api("GET", "/rc/v1/system/rejected_writes", token)).text);
  await t.equal(rejectedLeft.length, 0, "nothing rejected is left");
});
