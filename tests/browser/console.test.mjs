// The operator console in headless chromium against a real keel serve: log in, list
// and open workflows, see a saga's graph, and terminate a stuck saga.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ADMIN_TOKEN, admin, assertFitsAPhone, openBrowser, screenshot, startKeel, until } from "./harness.mjs";

let keel, browser, page, problems;

before(async () => {
  keel = await startKeel();
  ({ browser, page, problems } = await openBrowser());
  // A saga whose second step fails for good, so its first is compensated, and one
  // stuck on a step that fails on every attempt.
  await admin(keel, "POST", "/v1/workflows?wait=20",
              { type: "DemoSaga", workflow_id: "compensated-1", input: { steps: 3, fail_at: 2 } });
  await admin(keel, "POST", "/v1/workflows", { type: "DemoSaga", workflow_id: "stuck-1", input: { steps: 3, stuck_at: 2 } });
});

after(async () => {
  await browser?.close();
  await keel?.stop();
});

test("a wrong token is refused with the API's error, the right one lets the operator in", async () => {
  await page.goto(keel.url + "/console");
  await page.type("#token", "not-the-token");
  await page.click("#login button");
  await page.waitForSelector(".error code");
  assert.equal(await page.$eval(".error code", (e) => e.textContent), "forbidden");
  await page.$eval("#token", (e) => { e.value = ""; });
  await page.type("#token", ADMIN_TOKEN);
  await page.click("#login button");
  await page.waitForSelector("#counts .chip");
  problems.length = 0;  // the refused token's 403 was the point
});

test("the list shows both sagas with counts by status, and filters by id prefix", async () => {
  await until("two rows", () => page.$$eval("#list tbody tr", (r) => r.length === 2));
  const chips = await page.$$eval("#counts .chip", (c) => c.map((x) => x.textContent.replace(/\s+/g, " ").trim()));
  assert.ok(chips.includes("all 2"), chips.join(" | "));
  assert.ok(chips.some((c) => c.includes("running 1")), chips.join(" | "));
  await screenshot(page, "console-workflows");
  await page.goto(keel.url + "/console#/workflows?prefix=stuck");
  await until("one row", () => page.$$eval("#list tbody tr", (r) => r.length === 1));
  assert.match(await page.$eval("#list tbody", (e) => e.textContent), /stuck-1/);
});

test("a compensated saga shows its steps and its compensation in the graph", async () => {
  await page.goto(keel.url + "/console#/workflow/compensated-1");
  await page.waitForSelector(".saga svg");
  const nodes = await page.$$eval(".saga g.node", (n) => n.map((g) => g.getAttribute("class") + " " + g.dataset.step));
  assert.deepEqual(nodes, ["node done  DemoStep", "node failed  DemoStep", "node done comp DemoUndo"]);
  assert.match(await page.$eval("h1", (e) => e.textContent), /completed/);
  // An event opens to its decoded attributes.
  await page.click(".timeline li:first-child summary");
  assert.match(await page.$eval(".timeline li:first-child pre", (e) => e.textContent), /"fail_at": 2/);
  await screenshot(page, "console-saga");
});

test("a stuck saga shows its retrying activity, and is terminated from the console", async () => {
  await page.goto(keel.url + "/console#/workflow/stuck-1");
  await until("a pending activity with a failure", () =>
    page.$eval("main", (m) => /fails on every attempt/.test(m.textContent)).catch(() => false));
  await screenshot(page, "console-stuck");
  await page.click('button[data-act="terminate"]');
  await page.waitForSelector("dialog[open]");
  await page.type("#confirm-reason", "stuck in the browser test");
  await page.click("#confirm-ok");
  await until("terminated on the page", () =>
    page.$eval("h1", (e) => /terminated/.test(e.textContent)).catch(() => false));
  const d = await admin(keel, "GET", "/v1/workflows/stuck-1");
  assert.equal(d.status, "terminated");
  const h = await admin(keel, "GET", "/v1/workflows/stuck-1/history");
  const last = h.events[h.events.length - 1];
  assert.equal(last.workflow_execution_terminated.reason, "stuck in the browser test");
});

test("task queues and health pages draw from the API", async () => {
  await page.goto(keel.url + "/console#/queues");
  await page.waitForSelector("#queues table, #queues p");
  // keel serve runs its own workers: every queue it serves has pollers.
  const pollers = await page.$$eval("#queues tbody tr td:last-child", (c) => c.map((x) => x.textContent));
  assert.ok(pollers.length > 0 && pollers.every((p) => /workflow|activity/.test(p)), String(pollers));
  await page.click("#queues tbody tr a");
  await page.waitForSelector("#q h2");
  assert.match(await page.$eval("#q", (e) => e.textContent), /Worker process[\s\S]*-\d+-/);
  await page.goto(keel.url + "/console#/health");
  await until("figures", () => page.$$eval(".card .figure", (f) => f.length > 0 && f.every((x) => x.textContent !== "…")), 10000);
  await screenshot(page, "console-health");
});

test("at phone width the list and a workflow do not scroll sideways", async () => {
  await assertFitsAPhone(page, ["#/workflows", "#/workflow/stuck-1"].map((h) => keel.url + "/console" + h));
});

test("no script error, no failed request", () => {
  assert.deepEqual(problems, []);
});
