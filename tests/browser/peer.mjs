// A headless Chromium WebRTC peer driven over stdin/stdout, for mediaflow's Rust
// browser tests. One JSON object per line each way.
//
//   node tests/browser/peer.mjs <VP8|H264> [minFrames] [offer|answer]
//
// Role `offer` (default): the browser offers. Role `answer`: the test sends an offer
// first and the browser answers (and so becomes the DTLS client).
//
// out: {"type":"offer","sdp"}            the browser's offer (after getUserMedia)
//      {"type":"answer","sdp"}           the browser's answer (role `answer`)
//      {"type":"candidate","candidate","sdpMid","sdpMLineIndex"}
//      {"type":"result", ok, framesDecoded, videoCodec, audioPackets, audioCodec,
//       msToFirstFrame, msToMinFrames, error?}
// in:  {"type":"answer","sdp"} / {"type":"offer","sdp"} (role `answer`)
//      {"type":"candidate","candidate","sdpMid","sdpMLineIndex"}
//
// PEER_HOLD=1: after the result, keep the call up until stdin closes or {"type":"close"}.
// PEER_DURATION_MS=N: report after N ms of call (from the offer) instead of at
// minFrames (ok if minFrames were decoded by then), with the video receiver's freezes
// and loss and the video sender's NACKs and retransmissions (loss tests).
// PEER_DIRECTION=sendonly|recvonly (role `offer` only; default sendrecv): the offer of
// kurento-utils' WebRtcPeerSendonly (camera and microphone out, nothing in; the result
// comes once minFrames video packets went out on a connected call) or
// WebRtcPeerRecvonly (no tracks sent; the result comes at minFrames decoded).
//
// PEER_DATA_CHANNELS=1: the offer also carries two data channels, `ordered` and
// `unordered` ({ordered: false}); once the media result is in, the page sends 1,000
// numbered strings on `ordered`, 200 on `unordered`, a 64 KiB string and a 1,000-byte
// binary message on `ordered`, waits for them to come back (a loopback echoes them),
// then closes both channels; `result.data` reports what came back. With role `answer`
// the page instead echoes every message on any channel the test opens (hold the call
// with PEER_HOLD=1 to use it after the result).
//
// Run it under tests/browser/netns-run.sh (with the Rust side) so only loopback exists.

import http from 'node:http';
import readline from 'node:readline';
import { launchChromium, evaluate, pipePageLogs, startWatchdog, withTimeout, sleep } from './lib.mjs';

const CODEC = (process.argv[2] || 'VP8').toUpperCase();
const MIN_FRAMES = Number(process.argv[3] || 60);
const ROLE = process.argv[4] || 'offer';
const BUDGET_MS = Number(process.env.PEER_BUDGET_MS || 45_000);
// With PEER_HOLD=1 the browser keeps sending after its result until the test closes
// stdin: in a two-peer pipeline the other peer is still watching this one's camera.
const HOLD = process.env.PEER_HOLD === '1';
const DURATION_MS = Number(process.env.PEER_DURATION_MS || 0);
const DIRECTION = process.env.PEER_DIRECTION || 'sendrecv';
const DATA_CHANNELS = process.env.PEER_DATA_CHANNELS === '1';
if (!['sendrecv', 'sendonly', 'recvonly'].includes(DIRECTION)) throw new Error(`PEER_DIRECTION ${DIRECTION}`);
let stdinClosed = false;
startWatchdog((HOLD ? 2 : 1) * BUDGET_MS + DURATION_MS + 15_000 + (DATA_CHANNELS ? 60_000 : 0), 'browser peer');

const send = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const log = (...a) => console.error('[peer]', ...a);

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end('<!doctype html><meta charset="utf-8"><title>mediaflow peer</title><video id="remote" autoplay muted playsinline></video>');
});
await withTimeout(new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
}), 5_000, 'http listen');

// Runs in the page: media first (Chromium gathers no loopback candidate without it),
// then an offer with the codec under test preferred.
async function start({ codec, offer, direction, dataChannels }) {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
  const pc = new RTCPeerConnection();
  window.__pc = pc;
  window.__cands = [];
  window.__t0 = performance.now();
  pc.onicecandidate = (e) => {
    if (e.candidate) window.__cands.push({ candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex });
  };
  const remote = new MediaStream();
  pc.ontrack = (e) => {
    remote.addTrack(e.track);
    document.getElementById('remote').srcObject = remote;
  };
  const want = `video/${codec}`.toLowerCase();
  const caps = RTCRtpReceiver.getCapabilities('video').codecs;
  const score = (c) => ((c.sdpFmtpLine || '').includes('packetization-mode=1') ? 0 : 1);
  const chosen = caps.filter((c) => c.mimeType.toLowerCase() === want).sort((a, b) => score(a) - score(b));
  if (!chosen.length) throw new Error(`${codec} not supported by this browser`);
  const prefs = [...chosen, ...caps.filter((c) => c.mimeType.toLowerCase() === 'video/rtx')];
  if (offer) {
    if (dataChannels) {
      pc.ondatachannel = (e) => {
        const ch = e.channel;
        ch.binaryType = 'arraybuffer';
        ch.onmessage = (m) => ch.send(m.data);
      };
    }
    // Answering: take the remote m-lines, send our media on them.
    await pc.setRemoteDescription({ type: 'offer', sdp: offer });
    for (const t of pc.getTransceivers()) {
      const track = stream.getTracks().find((k) => k.kind === t.receiver.track.kind);
      if (track) { await t.sender.replaceTrack(track); t.direction = 'sendrecv'; t.sender.setStreams(stream); }
      if (t.receiver.track.kind === 'video') t.setCodecPreferences(prefs);
    }
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    window.__t0 = performance.now();
    return answer.sdp;
  }
  if (direction === 'recvonly') {
    // The camera was only opened for the permission (host candidates); nothing is sent.
    for (const track of stream.getTracks()) track.stop();
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
  } else {
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction, streams: [stream] });
  }
  if (dataChannels) {
    window.__dcs = {
      ordered: pc.createDataChannel('ordered'),
      unordered: pc.createDataChannel('unordered', { ordered: false }),
    };
  }
  const vtx = pc.getTransceivers().find((t) => t.receiver.track.kind === 'video');
  // Only the codec under test (plus rtx): the answer cannot pick another.
  vtx.setCodecPreferences(prefs);
  const offer2 = await pc.createOffer();
  await pc.setLocalDescription(offer2);
  window.__t0 = performance.now();
  return offer2.sdp;
}

async function stats() {
  const s = await window.__pc.getStats();
  const out = { framesDecoded: 0, audioPackets: 0, audioSamples: 0, t: performance.now() - window.__t0 };
  for (const r of s.values()) {
    if (r.type !== 'inbound-rtp') continue;
    const codec = r.codecId && s.get(r.codecId);
    if (r.kind === 'video') {
      out.framesDecoded = r.framesDecoded || 0;
      out.freezeCount = r.freezeCount || 0;
      out.totalFreezesDuration = r.totalFreezesDuration || 0;
      out.videoPacketsReceived = r.packetsReceived || 0;
      out.videoPacketsLost = r.packetsLost || 0;
      out.videoNacksSent = r.nackCount || 0;
      out.videoRetransmittedPacketsReceived = r.retransmittedPacketsReceived || 0;
      out.videoPlisSent = r.pliCount || 0;
      out.framesDropped = r.framesDropped || 0;
      // Mean time a frame waited in the jitter buffer, ms.
      out.jitterBufferMs = r.jitterBufferEmittedCount
        ? Math.round((1000 * r.jitterBufferDelay) / r.jitterBufferEmittedCount)
        : 0;
      // Running sums (s) for the delays around a freeze: what the buffer held frames
      // for, aimed at, and the floor it was given (our playout-delay extension).
      out.jb = [r.jitterBufferDelay || 0, r.jitterBufferTargetDelay || 0, r.jitterBufferMinimumDelay || 0, r.jitterBufferEmittedCount || 0];
      out.videoCodec = codec && codec.mimeType;
      out.frameWidth = r.frameWidth;
    } else if (r.kind === 'audio') {
      out.audioPackets = r.packetsReceived || 0;
      out.audioSamples = r.totalSamplesReceived || 0;
      out.audioCodec = codec && codec.mimeType;
    }
  }
  for (const r of s.values()) {
    if (r.type === 'outbound-rtp' && r.kind === 'video') {
      out.targetBitrate = r.targetBitrate;
      out.videoPacketsSent = r.packetsSent || 0;
      out.videoRetransmittedPacketsSent = r.retransmittedPacketsSent || 0;
      out.videoNacksReceived = r.nackCount || 0;
      out.videoPlisReceived = r.pliCount || 0;
      out.framesEncoded = r.framesEncoded || 0;
      out.framesSent = r.framesSent || 0;
      out.qualityLimitation = r.qualityLimitationReason;
      // Seconds the encoder spent limited, by reason (cpu, bandwidth): a call that
      // decodes fewer frames says whether its sender was starved of CPU or bitrate.
      out.qualityLimitationDurations = r.qualityLimitationDurations;
    }
    if (r.type === 'media-source' && r.kind === 'video') out.framesCaptured = r.frames || 0;
    // The round trip the browser measured from our receiver reports (what its NACK
    // retries and jitter buffer go by), and ICE's.
    if (r.type === 'remote-inbound-rtp' && r.kind === 'video') out.videoRttMs = Math.round(1000 * (r.roundTripTime || 0));
    if (r.type === 'candidate-pair' && r.nominated && r.currentRoundTripTime !== undefined) out.pairRttMs = Math.round(1000 * r.currentRoundTripTime);
    if (r.type === 'candidate-pair' && r.nominated && r.availableOutgoingBitrate) out.availableOutgoingBitrate = r.availableOutgoingBitrate;
    // Which half of "connecting" a call is stuck in, when it is.
    if (r.type === 'transport') {
      out.iceState = r.iceState;
      out.dtlsState = r.dtlsState;
      out.pairChanges = r.selectedCandidatePairChanges;
    }
  }
  out.connectionState = window.__pc.connectionState;
  return out;
}

// Runs in the page: the data-channel round trip through the loopback (see the top).
async function dataTest({ n, unorderedN, bigSize }) {
  const { ordered, unordered } = window.__dcs;
  const until = (pred, ms) => new Promise((resolve) => {
    const end = performance.now() + ms;
    const tick = () => (pred() || performance.now() > end ? resolve(pred()) : setTimeout(tick, 20));
    tick();
  });
  const opened = await until(() => ordered.readyState === 'open' && unordered.readyState === 'open', 10_000);
  if (!opened) return { ok: false, error: `channels not open: ${ordered.readyState}/${unordered.readyState}` };
  const got = { ordered: [], unordered: [], big: null, binary: null };
  ordered.binaryType = 'arraybuffer';
  ordered.onmessage = (e) => {
    if (typeof e.data !== 'string') got.binary = new Uint8Array(e.data);
    else if (e.data.length > 1000) got.big = e.data;
    else got.ordered.push(e.data);
  };
  unordered.onmessage = (e) => got.unordered.push(e.data);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) ordered.send(`m${i}`);
  await until(() => got.ordered.length >= n, 20_000);
  const msOrdered = performance.now() - t0;
  for (let i = 0; i < unorderedN; i++) unordered.send(`u${i}`);
  const big = Array.from({ length: bigSize }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
  ordered.send(big);
  const bin = new Uint8Array(1000).map((_, i) => (i * 7) & 255);
  ordered.send(bin);
  await until(() => got.unordered.length >= unorderedN && got.big !== null && got.binary !== null, 20_000);
  const data = {
    orderedSent: n,
    orderedReceived: got.ordered.length,
    inOrder: got.ordered.length === n && got.ordered.every((m, i) => m === `m${i}`),
    msOrdered,
    unorderedSent: unorderedN,
    unorderedReceived: new Set(got.unordered.filter((m) => /^u[0-9]+$/.test(m))).size,
    bigSize,
    bigOk: got.big === big,
    binaryOk: got.binary !== null && got.binary.length === bin.length && got.binary.every((b, i) => b === bin[i]),
    maxMessageSize: window.__pc.sctp && window.__pc.sctp.maxMessageSize,
  };
  ordered.close();
  unordered.close();
  data.closed = await until(() => ordered.readyState === 'closed' && unordered.readyState === 'closed', 10_000);
  data.ok = data.inOrder && data.unorderedReceived === unorderedN && data.bigOk && data.binaryOk && data.closed;
  return data;
}

let browser;
let result = { type: 'result', ok: false };
try {
  // PEER_CHROME_ARGS: extra Chromium flags when tracing a failure (say
  // `--enable-logging=stderr --vmodule=*dcsctp*=2`, shown with DEBUG=pw:browser).
  const extraArgs = (process.env.PEER_CHROME_ARGS || '').split(' ').filter(Boolean);
  browser = await launchChromium({ extraArgs });
  const page = await browser.newPage();
  pipePageLogs(page, 'peer');
  await page.goto(`http://127.0.0.1:${server.address().port}/`, { waitUntil: 'load' });
  // Signaling from the Rust side.
  const rl = readline.createInterface({ input: process.stdin });
  const inbox = [];
  rl.on('close', () => { stdinClosed = true; });
  rl.on('line', (line) => {
    try { const m = JSON.parse(line); if (m.type === 'close') stdinClosed = true; else inbox.push(m); } catch (e) { log('bad line from test:', line); }
  });
  if (ROLE === 'answer') {
    const until = performance.now() + 15_000;
    while (!inbox.some((m) => m.type === 'offer')) {
      if (performance.now() > until) throw new Error('no offer from the test');
      await sleep(20);
    }
    const offer = inbox.splice(inbox.findIndex((m) => m.type === 'offer'), 1)[0];
    const answer = await evaluate(page, start, { codec: CODEC, offer: offer.sdp, dataChannels: DATA_CHANNELS }, 15_000, 'answer');
    send({ type: 'answer', sdp: answer });
  } else {
    const offer = await evaluate(page, start, { codec: CODEC, direction: DIRECTION, dataChannels: DATA_CHANNELS }, 15_000, 'offer');
    send({ type: 'offer', sdp: offer });
  }

  const deadline = performance.now() + Math.max(BUDGET_MS, DURATION_MS + 15_000);
  let sentCands = 0;
  let firstFrameMs = null;
  let startJitterBufferMs = null;
  let last = null;
  // The last few looks at the stats, for what led up to a freeze.
  let recent = [];
  while (performance.now() < deadline) {
    while (inbox.length) {
      const m = inbox.shift();
      if (m.type === 'answer') {
        await evaluate(page, (sdp) => window.__pc.setRemoteDescription({ type: 'answer', sdp }), m.sdp, 5_000, 'answer');
      } else if (m.type === 'candidate') {
        await evaluate(page, (c) => window.__pc.addIceCandidate(c), { candidate: m.candidate, sdpMid: m.sdpMid, sdpMLineIndex: m.sdpMLineIndex }, 5_000, 'addIceCandidate');
      }
    }
    const cands = await evaluate(page, (n) => window.__cands.slice(n), sentCands, 5_000, 'candidates');
    for (const c of cands) send({ type: 'candidate', ...c });
    sentCands += cands.length;
    const before = last;
    if (before) recent = recent.concat([before]).slice(-6);
    last = await evaluate(page, stats, null, 5_000, 'getStats');
    // A freeze, with what each side of Chromium did around it (capture, encode, decode).
    if (before && last.freezeCount > (before.freezeCount || 0)) {
      const pick = ({ t, framesCaptured, framesEncoded, framesSent, framesDecoded, targetBitrate, qualityLimitation, videoPacketsLost, videoNacksSent }) =>
        ({ t: Math.round(t), framesCaptured, framesEncoded, framesSent, framesDecoded, targetBitrate, qualityLimitation, videoPacketsLost, videoNacksSent });
      // Mean held / target delay (ms) of the frames emitted between looks, the last few.
      const jb = recent.concat([last]).slice(1).map((b, i) => {
        const a = recent[i];
        // A look from before video came in has no jitter buffer figures.
        if (!a.jb || !b.jb) return `${Math.round(b.t)}: -`;
        const n = b.jb[3] - a.jb[3];
        return n > 0 ? `${Math.round(b.t)}: ${[0, 1].map((k) => Math.round((1000 * (b.jb[k] - a.jb[k])) / n)).join('/')} (${n})` : `${Math.round(b.t)}: -`;
      });
      log(`freeze ${last.freezeCount} (${last.totalFreezesDuration} s in all) seen at ${new Date().toISOString()}: before ${JSON.stringify(pick(before))} now ${JSON.stringify(pick(last))}, jitter buffer held/target ms (frames): ${jb.join(', ')}`);
    }
    if (firstFrameMs === null && last.framesDecoded > 0) firstFrameMs = last.t;
    // What the jitter buffer held and aimed at (mean ms per frame) over the video's
    // first 3 s: the call's first repairs come then, before Chromium adapts.
    if (firstFrameMs !== null && startJitterBufferMs === null && last.t >= firstFrameMs + 3000 && last.jb && last.jb[3] > 0) {
      startJitterBufferMs = [0, 1].map((k) => Math.round((1000 * last.jb[k]) / last.jb[3]));
    }
    if (DIRECTION === 'sendonly') {
      // Nothing comes back: done once the call is up and video went out.
      if (last.connectionState === 'connected' && (last.videoPacketsSent || 0) >= MIN_FRAMES) {
        result = { type: 'result', ok: true, ...last, msToFirstFrame: null, msToMinFrames: last.t };
        break;
      }
      await sleep(100);
      continue;
    }
    const done = DURATION_MS > 0 ? last.t >= DURATION_MS : last.framesDecoded >= MIN_FRAMES;
    if (done && last.framesDecoded >= MIN_FRAMES && last.audioPackets > 0) {
      result = { type: 'result', ok: true, ...last, msToFirstFrame: firstFrameMs, startJitterBufferMs, msToMinFrames: last.t };
      break;
    }
    await sleep(100);
  }
  if (!result.ok) result = { type: 'result', ok: false, ...last, msToFirstFrame: firstFrameMs, startJitterBufferMs, error: `fewer than ${MIN_FRAMES} frames within ${BUDGET_MS} ms` };
  if (result.ok && DATA_CHANNELS && ROLE !== 'answer') {
    result.data = await evaluate(page, dataTest, { n: 1000, unorderedN: 200, bigSize: 64 * 1024 }, 60_000, 'data channels');
    if (!result.data.ok) { result.ok = false; result.error = 'data channels: ' + JSON.stringify(result.data); }
  }
} catch (err) {
  result = { type: 'result', ok: false, error: String(err && err.stack ? err.stack : err) };
} finally {
  send(result);
  const holdUntil = performance.now() + BUDGET_MS;
  while (HOLD && result.ok && !stdinClosed && performance.now() < holdUntil) await sleep(100);
  if (browser) await browser.close();
  server.close();
  process.exit(result.ok ? 0 : 1);
}
