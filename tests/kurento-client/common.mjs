// What the kurento-client scenarios (hello-world.mjs, one2many.mjs, recorder.mjs)
// share: the run's frame (one JSON result line, a time budget, browsers killed by their
// PID at the end) and a headless Chromium browser (tests/browser/peer.mjs) with the
// application server's side of its signaling, as Kurento's tutorials write it.

import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import kurento from 'kurento-client';

const PEER = fileURLToPath(new URL('../browser/peer.mjs', import.meta.url));
const peers = [];

export const IceCandidate = kurento.getComplexType('IceCandidate');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits (at most `ms`) until `pred()` holds; returns whether it does. */
export async function waitFor(pred, ms) {
  const until = Date.now() + ms;
  while (!pred() && Date.now() < until) await sleep(100);
  return pred();
}

/** A `check(cond, what)` that records `what` in `out.problems` when `cond` fails. */
export const checker = (out) => (cond, what) => { if (!cond) out.problems.push(what); };

/**
 * Runs `main()` within `budgetMs`, then prints `out` as one JSON line and exits: 0 when
 * `out.ok`, 1 on failure or error, 124 past the budget. Every browser started with
 * `browser()` is killed by its PID on the way out.
 */
export function run(out, budgetMs, main) {
  const finish = (code) => {
    for (const p of peers) {
      if (p.exitCode === null) {
        try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
      }
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.exit(code);
  };
  setTimeout(() => { out.error = `timeout after ${budgetMs} ms`; finish(124); }, budgetMs).unref();
  main().then(
    () => finish(out.ok ? 0 : 1),
    (err) => { out.error = String(err && err.stack ? err.stack : err); finish(1); },
  );
}

/**
 * One browser (peer.mjs offering VP8) and the application server's side of its
 * signaling, as the tutorials' server.js does it: candidates that arrive before the
 * endpoint exists are queued; `start(sdpOffer, ready)` makes the endpoint (handing it
 * to `ready`, which subscribes the trickle) and returns the answer; once the answer is
 * on its way the endpoint gathers candidates.
 *
 * Options: `direction` (sendrecv, sendonly, recvonly), `hold` (keep the call up after
 * the result until `close()`), `minFrames`, `budgetMs` (the browser's own), `problems`
 * (an array where late addIceCandidate failures go).
 * Returns `{peer, result, toBrowser, close}`; `result` resolves to the browser's result.
 */
export function browser(name, options, start) {
  const { direction = 'sendrecv', hold = false, minFrames = 60, budgetMs = 60000, problems = [] } = options;
  const peer = spawn(process.execPath, [PEER, 'VP8', String(minFrames)], {
    env: { ...process.env, PEER_DIRECTION: direction, PEER_HOLD: hold ? '1' : '0', PEER_BUDGET_MS: String(budgetMs) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  peers.push(peer);
  const toBrowser = (m) => { if (peer.stdin.writable) peer.stdin.write(`${JSON.stringify(m)}\n`); };
  const queue = [];
  let endpoint = null;
  const onCandidate = (event) => {
    const c = event.candidate;
    toBrowser({ type: 'candidate', candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex });
  };
  const result = new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: peer.stdout });
    rl.on('line', async (line) => {
      let m;
      try { m = JSON.parse(line); } catch { return; }
      try {
        if (m.type === 'offer') {
          const answer = await start(m.sdp, (ep) => {
            endpoint = ep;
            while (queue.length) endpoint.addIceCandidate(queue.shift()).catch((err) => problems.push(`${name}: addIceCandidate ${err}`));
            endpoint.on('IceCandidateFound', onCandidate);
          });
          toBrowser({ type: 'answer', sdp: answer });
          // As the tutorials: the answer goes to the browser, then the endpoint gathers.
          await endpoint.gatherCandidates();
        } else if (m.type === 'candidate') {
          const candidate = IceCandidate({ candidate: m.candidate, sdpMid: m.sdpMid, sdpMLineIndex: m.sdpMLineIndex });
          if (endpoint) await endpoint.addIceCandidate(candidate);
          else queue.push(candidate);
        } else if (m.type === 'result') {
          resolve(m);
        }
      } catch (err) {
        reject(err);
      }
    });
    peer.on('exit', (code) => reject(new Error(`${name}'s browser exited (${code}) before its result`)));
  });
  return { peer, result, toBrowser, close: () => toBrowser({ type: 'close' }) };
}
