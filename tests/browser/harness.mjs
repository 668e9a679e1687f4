// What the browser tests share: a real `keel serve` on a fresh SQLite data dir with
// free loopback ports, and headless Debian chromium driven by puppeteer-core.
//   KEEL_BINARY   the keel binary (default: build/keel)
//   KEEL_BROWSER  the browser (default: /usr/bin/chromium)
//   KEEL_SCREENSHOTS  a dir to write screenshots of the main pages to (optional)
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import puppeteer from "puppeteer-core";

export const ADMIN_TOKEN = "browser-test-admin-token";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startKeel(extraArgs = []) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "keel-browser-"));
  const [api, pay, carrier] = [await freePort(), await freePort(), await freePort()];
  const bin = process.env.KEEL_BINARY || "build/keel";
  const proc = spawn(bin, ["serve", "--db", "sqlite:" + dir, "--http", `127.0.0.1:${api}`,
    "--payments-http", `127.0.0.1:${pay}`, "--carrier-http", `127.0.0.1:${carrier}`,
    "--sim-data", path.join(dir, "sims"), "--admin-token", ADMIN_TOKEN, ...extraArgs],
    { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  proc.stderr.on("data", (d) => { log += d; });
  const url = `http://127.0.0.1:${api}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(url + "/readyz")).ok) break;
    } catch { /* not up yet */ }
    if (i > 300 || proc.exitCode !== null) throw new Error("keel serve did not start:\n" + log);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    log: () => log,
    async stop() {
      proc.kill("SIGTERM");
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.on("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// The engine API, as the tests' own client (not through the page).
export async function admin(keel, method, p, body) {
  const res = await fetch(keel.url + p, {
    method,
    headers: { Authorization: "Bearer " + ADMIN_TOKEN, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return JSON.parse(text);
}

// A browser page that fails the test on any script error or failed asset.
export async function openBrowser() {
  const browser = await puppeteer.launch({
    executablePath: process.env.KEEL_BROWSER || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const problems = [];
  page.on("pageerror", (e) => problems.push("script error: " + e.message));
  page.on("console", (m) => { if (m.type() === "error") problems.push("console error: " + m.text()); });
  return { browser, page, problems };
}

export async function screenshot(page, name) {
  const dir = process.env.KEEL_SCREENSHOTS;
  if (dir) await page.screenshot({ path: path.join(dir, name + ".png"), fullPage: true });
}

export async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Fails when any of `urls` scrolls sideways at phone width (360 px).
export async function assertFitsAPhone(page, urls) {
  await page.setViewport({ width: 360, height: 740 });
  try {
    for (const url of urls) {
      await page.goto(url);
      await page.waitForSelector("main h1");
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 0) throw new Error(`${url} is ${overflow}px wider than the screen`);
    }
  } finally {
    await page.setViewport({ width: 1280, height: 900 });
  }
}
