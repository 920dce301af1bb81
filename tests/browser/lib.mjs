// Helpers for mediaflow's real-browser end-to-end tests.
//
// Launches Debian's Chromium through playwright-core with a fixed, minimal
// set of WebRTC-testing flags and a fresh temporary profile, bounds every
// wait, and makes sure the browser is killed and the profile removed on any
// exit path (normal return, exception, signal, watchdog).
//
// Run the node script under tests/browser/netns-run.sh so that the browser
// (and any test server) sees only loopback.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Debian's launcher (a shell script that `exec`s /usr/lib/chromium/chromium). */
export const CHROMIUM_PATH = process.env.MEDIAFLOW_CHROMIUM || '/usr/bin/chromium';

/** Exactly the flags we ask for (playwright adds its own automation plumbing). */
export const CHROMIUM_FLAGS = Object.freeze([
  '--headless', // no display on CI machines
  '--no-sandbox', // we run as root / inside namespaces; the setuid sandbox can't work there
  '--disable-gpu', // no GPU: software (libvpx/openh264/ffmpeg) coding and compositing
  '--disable-quic', // keep Chromium from opening UDP sockets of its own
  '--no-first-run',
  '--disable-background-networking', // no update/metrics/variations traffic
  '--disable-component-update',
  '--disable-sync',
  '--allow-loopback-in-peer-connection', // gather host candidates on lo (127.0.0.1 / ::1)
  '--use-fake-device-for-media-stream', // synthetic camera (pacman-like) + 440 Hz beep mic
  '--use-fake-ui-for-media-stream', // auto-grant getUserMedia, no permission prompt
]);

export const DEFAULT_TIMEOUT_MS = 15_000;

/** Reject after `ms` with a labelled error; clears its timer either way. */
export function withTimeout(promise, ms, label = 'operation') {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${label}`)), ms);
  });
  return Promise.race([Promise.resolve(promise), guard]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Process bookkeeping: every browser we launch is registered here so that the
// synchronous 'exit' hook can SIGKILL it and remove its profile directory.

const live = new Set();
let hooksInstalled = false;

function childPidsOf(ppid) {
  const out = [];
  for (const ent of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${ent}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may contain spaces/parens
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === ppid) out.push(Number(ent));
    } catch {
      /* raced with exit */
    }
  }
  return out;
}

function cmdlineOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Find the browser's main process: our child whose cmdline has our profile dir. */
function findBrowserPid(userDataDir) {
  for (const pid of childPidsOf(process.pid)) {
    const cmd = cmdlineOf(pid);
    if (cmd && cmd.some((a) => a === `--user-data-dir=${userDataDir}`)) return pid;
  }
  return null;
}

function hardKill(entry) {
  if (entry.pid && alive(entry.pid)) {
    // playwright starts the browser detached, in its own process group.
    try {
      process.kill(-entry.pid, 'SIGKILL');
    } catch {
      try {
        process.kill(entry.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  try {
    fs.rmSync(entry.userDataDir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    /* best effort */
  }
}

function installHooks() {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const e of live) hardKill(e);
    live.clear();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      console.error(`received ${sig}, killing browser(s)`);
      process.exit(sig === 'SIGINT' ? 130 : 143); // 'exit' hook does the killing
    });
  }
}

/**
 * Global watchdog: if the whole script is not done within `ms`, print a FAIL
 * line, kill the browser(s) and exit(124). Returns a cancel function.
 */
export function startWatchdog(ms, label = 'script') {
  installHooks();
  const t = setTimeout(() => {
    console.error(`FAIL: ${label} exceeded its overall limit of ${ms} ms`);
    process.exit(124);
  }, ms);
  t.unref(); // never keeps the process alive by itself
  return () => clearTimeout(t);
}

/**
 * Launch Chromium with CHROMIUM_FLAGS (+ extraArgs) and a fresh temporary
 * user-data-dir. Returns { context, pid, userDataDir, launchMs, argv, newPage, close }.
 * `close()` is bounded: graceful close for up to 5 s, then SIGKILL; it also
 * removes the profile dir. It is safe to call more than once.
 */
export async function launchChromium({
  executablePath = CHROMIUM_PATH,
  extraArgs = [],
  timeoutMs = DEFAULT_TIMEOUT_MS,
  env,
} = {}) {
  installHooks();
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mediaflow-chromium-'));
  const entry = { userDataDir, pid: null };
  live.add(entry);

  const t0 = performance.now();
  let context;
  try {
    context = await withTimeout(
      chromium.launchPersistentContext(userDataDir, {
        executablePath,
        headless: true,
        args: [...CHROMIUM_FLAGS, ...extraArgs],
        timeout: timeoutMs,
        // we install our own handlers (they also remove the profile)
        handleSIGINT: false,
        handleSIGTERM: false,
        handleSIGHUP: false,
        env: env ?? { ...process.env },
      }),
      timeoutMs + 2_000,
      'chromium launch',
    );
  } catch (err) {
    entry.pid = findBrowserPid(userDataDir);
    hardKill(entry);
    live.delete(entry);
    throw err;
  }
  const launchMs = performance.now() - t0;
  context.setDefaultTimeout(timeoutMs);
  context.setDefaultNavigationTimeout(timeoutMs);
  entry.pid = findBrowserPid(userDataDir);
  const argv = entry.pid ? cmdlineOf(entry.pid) : null;

  let closed = false;
  async function close() {
    if (closed) return;
    closed = true;
    try {
      await withTimeout(context.close(), 5_000, 'chromium close');
    } catch (err) {
      console.error(`chromium did not close cleanly (${err.message}); killing it`);
    }
    hardKill(entry);
    live.delete(entry);
  }

  async function newPage() {
    // a persistent context starts with one about:blank page; reuse it first
    const blank = context.pages().find((p) => p.url() === 'about:blank' && !p.__mediaflowUsed);
    const page = blank ?? (await withTimeout(context.newPage(), timeoutMs, 'new page'));
    page.__mediaflowUsed = true;
    page.setDefaultTimeout(timeoutMs);
    page.setDefaultNavigationTimeout(timeoutMs);
    return page;
  }

  return { context, pid: entry.pid, userDataDir, launchMs, argv, newPage, close };
}

/**
 * Forward the page's console messages and uncaught errors to our stderr
 * (prefixed), so failures inside page.evaluate are visible.
 */
export function pipePageLogs(page, prefix = 'page') {
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.error(`[${prefix}:${m.type()}] ${m.text()}`);
  });
  page.on('pageerror', (e) => console.error(`[${prefix}:pageerror] ${e.message}`));
}

/** `page.evaluate` has no timeout of its own in playwright: always use this. */
export function evaluate(page, fn, arg, ms = DEFAULT_TIMEOUT_MS, label = 'page.evaluate') {
  return withTimeout(page.evaluate(fn, arg), ms, label);
}
