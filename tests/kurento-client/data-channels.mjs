// Kurento's "WebRTC with data channels" tutorial (hello world with data channels), as
// it is written with the unchanged npm kurento-client, against mediaflow-server;
// headless Chromium (tests/browser/peer.mjs with PEER_DATA_CHANNELS=1) is the browser.
//
//   node tests/kurento-client/data-channels.mjs ws://127.0.0.1:PORT/kurento
//
// The application creates the WebRtcEndpoint with `useDataChannels: true`, connects it
// to itself and negotiates; the browser opens two data channels and checks that every
// message comes back (1,000 ordered, 200 unordered, 64 KiB, binary), then closes them.
// The application checks DataChannelOpened / DataChannelClosed with their channelId,
// and that createDataChannel / closeDataChannel answer.
//
// Prints one JSON line: {ok, data, opened, closed, problems, ...}.

import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import kurento from 'kurento-client';

const WS_URI = process.argv[2];
const BUDGET_MS = 120_000;
const PEER = fileURLToPath(new URL('../browser/peer.mjs', import.meta.url));

const out = { ok: false, opened: [], closed: [], problems: [] };
let peer = null;

function finish(code) {
  if (peer && peer.exitCode === null) {
    try { process.kill(peer.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(code);
}
setTimeout(() => { out.error = `timeout after ${BUDGET_MS} ms`; finish(124); }, BUDGET_MS).unref();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const check = (cond, what) => { if (!cond) out.problems.push(what); };
async function waitFor(pred, ms) {
  const until = Date.now() + ms;
  while (!pred() && Date.now() < until) await sleep(100);
  return pred();
}

async function main() {
  const client = await kurento(WS_URI, { failAfter: 1 });
  const pipeline = await client.create('MediaPipeline');
  const webRtcEndpoint = await pipeline.create('WebRtcEndpoint', { useDataChannels: true });
  webRtcEndpoint.on('DataChannelOpened', (e) => {
    check(e.source === webRtcEndpoint.id && typeof e.channelId === 'number', `DataChannelOpened ${JSON.stringify(e)}`);
    out.opened.push(e.channelId);
  });
  webRtcEndpoint.on('DataChannelClosed', (e) => out.closed.push(e.channelId));
  await webRtcEndpoint.connect(webRtcEndpoint);

  peer = spawn(process.execPath, [PEER, 'VP8', '30'], {
    // PEER_HOLD: the call stays up after the result, for the server's own channel below.
    env: { ...process.env, PEER_DATA_CHANNELS: '1', PEER_HOLD: '1' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const toBrowser = (m) => peer.stdin.write(`${JSON.stringify(m)}\n`);
  webRtcEndpoint.on('IceCandidateFound', (event) => {
    const c = event.candidate;
    toBrowser({ type: 'candidate', candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex });
  });
  const IceCandidate = kurento.getComplexType('IceCandidate');
  const result = await new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: peer.stdout });
    rl.on('line', async (line) => {
      let m;
      try { m = JSON.parse(line); } catch { return; }
      try {
        if (m.type === 'offer') {
          const answer = await webRtcEndpoint.processOffer(m.sdp);
          check(answer.includes('a=sctp-port:5000'), 'the answer accepts the data channels');
          toBrowser({ type: 'answer', sdp: answer });
          await webRtcEndpoint.gatherCandidates();
        } else if (m.type === 'candidate') {
          await webRtcEndpoint.addIceCandidate(IceCandidate({ candidate: m.candidate, sdpMid: m.sdpMid, sdpMLineIndex: m.sdpMLineIndex }));
        } else if (m.type === 'result') {
          resolve(m);
        }
      } catch (err) {
        reject(err);
      }
    });
    peer.on('exit', (code) => reject(new Error(`the browser peer exited (${code}) before its result`)));
  });
  out.data = result.data;
  out.browser = { ok: result.ok, error: result.error };
  check(result.ok, `browser: ${result.error}`);
  await waitFor(() => out.closed.length >= 2, 10_000);
  const opened = [...out.opened].sort((a, b) => a - b);
  const closed = [...out.closed].sort((a, b) => a - b);
  check(opened.length === 2, `DataChannelOpened ${opened}`);
  check(JSON.stringify(opened) === JSON.stringify(closed), `closed ${closed} vs opened ${opened}`);

  // The tutorial's own calls: a channel of the server's (it opens once Chromium acks;
  // the page does not listen for it) and closing an unknown one fails.
  await webRtcEndpoint.createDataChannel('from-server', true, -1, -1, '');
  out.serverChannelOpened = await waitFor(() => out.opened.length >= 3, 10_000);
  check(out.serverChannelOpened, `the server's channel did not open: opened ${out.opened}`);
  // With a callback: kurento-client hands an error to it (a bare promise resolves).
  const closeUnknown = await new Promise((resolve) => {
    webRtcEndpoint.closeDataChannel(999, (err) => resolve(err || null));
  });
  out.closeUnknown = closeUnknown && closeUnknown.code;
  check(closeUnknown !== null, 'closeDataChannel(999) fails');

  toBrowser({ type: 'close' });
  await pipeline.release();
  client.close();
  out.ok = out.problems.length === 0;
}

main().then(
  () => finish(out.ok ? 0 : 1),
  (err) => { out.error = String(err && err.stack ? err.stack : err); finish(1); },
);
