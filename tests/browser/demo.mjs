// Drives the Hello World demo page like a person: Start, wait for the looped video,
// read the event log, Stop. Prints one JSON line per session.
//
//   node tests/browser/demo.mjs <url> [rounds] [parallel] [screenshot.png]
//
// `rounds` sessions run one after another, each with `parallel` pages at once.
// Run it under tests/browser/netns-run.sh together with the demo server.

import { launchChromium, evaluate, pipePageLogs, startWatchdog, withTimeout, sleep } from './lib.mjs';

const URL = process.argv[2];
const ROUNDS = Number(process.argv[3] || 1);
const PARALLEL = Number(process.argv[4] || 1);
const SCREENSHOT = process.argv[5];
const MIN_FRAMES = 60;
const SESSION_MS = 30_000;
startWatchdog(ROUNDS * (SESSION_MS + 10_000) + 30_000, 'demo driver');

const EXPECTED = [
  'IceCandidateFound',
  'IceComponentStateChanged',
  'IceGatheringDone',
  'NewCandidatePairSelected',
  'MediaFlowInStateChanged',
  'MediaFlowOutStateChanged',
  'MediaStateChanged',
];

async function inboundVideo() {
  const pc = window.demo.pc;
  if (!pc) return { frames: 0 };
  const s = await pc.getStats();
  for (const r of s.values()) {
    if (r.type === 'inbound-rtp' && r.kind === 'video') {
      const c = r.codecId && s.get(r.codecId);
      return { frames: r.framesDecoded || 0, codec: c && c.mimeType };
    }
  }
  return { frames: 0 };
}

async function session(browser, n, screenshot) {
  const page = await browser.newPage();
  pipePageLogs(page, `demo${n}`);
  const t0 = performance.now();
  try {
    await page.goto(URL, { waitUntil: 'load' });
    await page.click('#start');
    const until = performance.now() + SESSION_MS;
    let video = { frames: 0 };
    while (performance.now() < until) {
      video = await evaluate(page, inboundVideo, null, 5_000, 'getStats');
      if (video.frames >= MIN_FRAMES) break;
      await sleep(100);
    }
    const msTo60 = performance.now() - t0;
    // Let the log catch up with the last events (MediaStateChanged follows RTCP).
    const logUntil = performance.now() + 10_000;
    let log = '';
    while (performance.now() < logUntil) {
      log = await evaluate(page, () => document.getElementById('log').textContent, null, 5_000, 'log');
      if (EXPECTED.every((e) => log.includes(e))) break;
      await sleep(100);
    }
    const remotePlaying = await evaluate(page, () => {
      const v = document.getElementById('videoOutput');
      return !v.paused && v.readyState >= 2 && v.videoWidth > 0;
    }, null, 5_000, 'video state');
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    await page.click('#stop');
    const status = await evaluate(page, () => document.getElementById('status').textContent, null, 5_000, 'status');
    const missing = EXPECTED.filter((e) => !log.includes(e));
    const ok = video.frames >= MIN_FRAMES && missing.length === 0 && remotePlaying && /^Stopped/.test(status);
    return { n, ok, frames: video.frames, codec: video.codec, remotePlaying, missing, status, msTo60: Math.round(msTo60) };
  } catch (err) {
    return { n, ok: false, error: String(err && err.stack ? err.stack : err) };
  } finally {
    await withTimeout(page.close(), 5_000, 'page close').catch(() => {});
  }
}

let browser;
let failed = 0;
try {
  browser = await launchChromium();
  let n = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const batch = [];
    for (let p = 0; p < PARALLEL; p++) batch.push(session(browser, n++, round === 0 && p === 0 ? SCREENSHOT : undefined));
    for (const r of await Promise.all(batch)) {
      if (!r.ok) failed++;
      console.log(JSON.stringify(r));
    }
  }
} catch (err) {
  failed++;
  console.log(JSON.stringify({ ok: false, error: String(err) }));
} finally {
  if (browser) await browser.close();
  process.exit(failed ? 1 : 0);
}
