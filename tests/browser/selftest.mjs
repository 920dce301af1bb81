// Self-test of the real-browser recipe (no mediaflow code involved):
//   Chromium (Debian) + playwright-core + fake camera/mic + loopback-only netns.
//
// For each codec (VP8, H264) one page on http://127.0.0.1:<port>/ does
//   getUserMedia({audio, video}) FIRST (so host candidates are real IPs, not
//   mDNS names), then pc1 -> pc2 in-page with setCodecPreferences, trickles
//   ICE between them, and polls pc2.getStats() until the inbound video has
//   decoded >= 60 frames and inbound audio has packets.
//
// Run:  bash scripts/ensure-browser.sh && tests/browser/netns-run.sh node tests/browser/selftest.mjs
// Options (env): SELFTEST_CODECS=VP8,H264   SELFTEST_FRAMES=60
//                SELFTEST_WRITE_FIXTURE=0 (don't rewrite fixtures/chromium-offer.sdp)
//                SELFTEST_VERBOSE=1 (print the browser's full command line)
// Exit status 0 = PASS, 1 = FAIL, 124 = overall 60 s limit hit.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startWatchdog, evaluate, pipePageLogs, withTimeout } from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(HERE, 'fixtures', 'chromium-offer.sdp');
const OVERALL_MS = 60_000;
const PER_CODEC_MS = 20_000;
const CODECS = (process.env.SELFTEST_CODECS || 'VP8,H264').split(',').map((s) => s.trim()).filter(Boolean);
const MIN_FRAMES = Number(process.env.SELFTEST_FRAMES || 60);
const WRITE_FIXTURE = process.env.SELFTEST_WRITE_FIXTURE !== '0';

const tStart = performance.now();
startWatchdog(OVERALL_MS, 'selftest');
const ms = (t) => `${t.toFixed(0)} ms`;

// --- warn if we are not in a loopback-only namespace ------------------------
function nonLoopbackInterfaces() {
  try {
    return fs
      .readFileSync('/proc/net/dev', 'utf8')
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0].trim())
      .filter((n) => n && n !== 'lo');
  } catch {
    return [];
  }
}
const extIf = nonLoopbackInterfaces();
if (extIf.length) {
  console.error(`WARNING: not in a loopback-only netns (interfaces: ${extIf.join(', ')}); use tests/browser/netns-run.sh`);
}

// --- tiny page server on 127.0.0.1 (a secure context; about:blank/data: are not) ---
const PAGE = `<!doctype html><meta charset="utf-8"><title>mediaflow selftest</title>
<body><video id="remote" autoplay muted playsinline></video></body>`;
const server = http.createServer((req, res) => {
  if (req.url === '/' || req.url.startsWith('/?')) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(PAGE);
  } else if (req.url === '/favicon.ico') {
    res.writeHead(204);
    res.end();
  } else {
    res.writeHead(404);
    res.end();
  }
});
await withTimeout(new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
}), 5_000, 'http listen');
const origin = `http://127.0.0.1:${server.address().port}`;

// --- the in-page test -------------------------------------------------------
// Runs inside Chromium; must be self-contained.
async function inPageLoopback({ codec, minFrames, budgetMs }) {
  const T0 = performance.now();
  const now = () => Math.round(performance.now() - T0);
  const deadline = T0 + budgetMs;
  const left = () => Math.max(0, deadline - performance.now());
  // every await in here is bounded: by the remaining budget, or by `ms`
  const bounded = (p, label, ms = left()) => {
    let t;
    const guard = new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`in-page timeout: ${label}`)), ms)));
    return Promise.race([p, guard]).finally(() => clearTimeout(t));
  };
  const sleep = (t) => new Promise((r) => setTimeout(r, t));
  const out = { codec, timings: {}, candidates: { pc1: [], pc2: [] } };
  let stream, pc1, pc2;
  try {
    // 1. getUserMedia FIRST: a granted capture permission makes Chromium put
    //    real host IPs (not mDNS .local names) in its candidates.
    stream = await bounded(
      navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480, frameRate: 30 } }),
      'getUserMedia',
    );
    out.timings.gum = now();
    out.tracks = stream.getTracks().map((t) => {
      const st = t.getSettings();
      return t.kind === 'video' ? `video:${t.label} ${st.width}x${st.height}@${st.frameRate}fps` : `audio:${t.label}`;
    });

    pc1 = new RTCPeerConnection({ iceServers: [] });
    pc2 = new RTCPeerConnection({ iceServers: [] });
    const gathered1 = new Promise((r) => (pc1.onicegatheringstatechange = () => pc1.iceGatheringState === 'complete' && r()));
    pc1.onicecandidate = (e) => {
      if (e.candidate) out.candidates.pc1.push(`${e.candidate.candidate}  [mid ${e.candidate.sdpMid}]`);
      pc2.addIceCandidate(e.candidate ?? null).catch((err) => (out.iceErr2 = String(err)));
    };
    pc2.onicecandidate = (e) => {
      if (e.candidate) out.candidates.pc2.push(`${e.candidate.candidate}  [mid ${e.candidate.sdpMid}]`);
      pc1.addIceCandidate(e.candidate ?? null).catch((err) => (out.iceErr1 = String(err)));
    };
    const connected2 = new Promise((resolve, reject) => {
      pc2.onconnectionstatechange = () => {
        if (pc2.connectionState === 'connected') resolve();
        if (pc2.connectionState === 'failed') reject(new Error('pc2 connectionState failed'));
      };
    });
    pc2.ontrack = (e) => {
      if (e.track.kind === 'video') document.getElementById('remote').srcObject = e.streams[0] ?? new MediaStream([e.track]);
    };

    const [audioTrack] = stream.getAudioTracks();
    const [videoTrack] = stream.getVideoTracks();
    pc1.addTransceiver(audioTrack, { direction: 'sendonly', streams: [stream] });
    const vtx = pc1.addTransceiver(videoTrack, { direction: 'sendonly', streams: [stream] });

    // 2. Put the codec under test first, keep every other codec after it (so
    //    the offer looks like a real "preferred" offer: rtx, red, ulpfec, ...).
    //    The answerer (pc2) picks the first codec it supports, i.e. ours.
    //    H264: constrained-baseline packetization-mode=1 (42e01f) first, the
    //    most interoperable profile.
    const caps = RTCRtpReceiver.getCapabilities('video').codecs;
    const want = `video/${codec}`.toLowerCase();
    const score = (c) => {
      const f = c.sdpFmtpLine || '';
      return (f.includes('packetization-mode=1') ? 0 : 2) + (f.includes('profile-level-id=42e01f') ? 0 : 1);
    };
    const chosen = caps.filter((c) => c.mimeType.toLowerCase() === want).sort((a, b) => score(a) - score(b));
    if (!chosen.length) throw new Error(`codec ${codec} not in RTCRtpReceiver.getCapabilities('video')`);
    const prefs = [...chosen, ...caps.filter((c) => c.mimeType.toLowerCase() !== want)];
    vtx.setCodecPreferences(prefs);
    out.codecPreferences = prefs.map((c) => `${c.mimeType} ${c.sdpFmtpLine || ''}`.trim());

    // 3. offer/answer, in-page
    const offer = await pc1.createOffer();
    out.offerSdp = offer.sdp;
    await pc1.setLocalDescription(offer);
    await pc2.setRemoteDescription(offer);
    const answer = await pc2.createAnswer();
    out.answerSdp = answer.sdp;
    await pc2.setLocalDescription(answer);
    await pc1.setRemoteDescription(answer);
    out.timings.negotiated = now();

    await bounded(connected2, 'pc2 connected');
    out.timings.connected = now();
    await bounded(gathered1, 'pc1 ICE gathering complete');
    out.timings.gatheringComplete = now();
    out.offerSdpWithCandidates = pc1.localDescription.sdp; // offer + a=candidate lines

    // 4. poll pc2 stats until enough decoded frames and audio packets
    let v, a, stats;
    for (;;) {
      stats = await bounded(pc2.getStats(), 'getStats', 3_000);
      v = a = undefined;
      for (const r of stats.values()) {
        if (r.type === 'inbound-rtp' && r.kind === 'video') v = r;
        if (r.type === 'inbound-rtp' && r.kind === 'audio') a = r;
      }
      if (v && out.timings.firstFrame === undefined && (v.framesDecoded ?? 0) > 0) out.timings.firstFrame = now();
      if (v && v.framesDecoded >= minFrames && a && a.packetsReceived > 0) break;
      if (left() <= 0) break;
      await sleep(100);
    }
    out.timings.done = now();
    const codecOf = (r) => (r && r.codecId ? stats.get(r.codecId) : undefined);
    const vc = codecOf(v);
    const ac = codecOf(a);
    out.video = v && {
      framesDecoded: v.framesDecoded,
      frameWidth: v.frameWidth,
      frameHeight: v.frameHeight,
      packetsReceived: v.packetsReceived,
      bytesReceived: v.bytesReceived,
      decoderImplementation: v.decoderImplementation,
      mimeType: vc?.mimeType,
      payloadType: vc?.payloadType,
      sdpFmtpLine: vc?.sdpFmtpLine,
    };
    out.audio = a && {
      packetsReceived: a.packetsReceived,
      mimeType: ac?.mimeType,
      payloadType: ac?.payloadType,
    };
    // encoder side
    const s1 = await bounded(pc1.getStats(), 'getStats pc1', 3_000);
    for (const r of s1.values()) {
      if (r.type === 'outbound-rtp' && r.kind === 'video') out.encoderImplementation = r.encoderImplementation;
    }
    // transport / DTLS / selected pair (receiver side)
    for (const r of stats.values()) {
      if (r.type === 'transport') {
        out.transport = {
          dtlsState: r.dtlsState,
          dtlsRole: r.dtlsRole,
          tlsVersion: r.tlsVersion,
          dtlsCipher: r.dtlsCipher,
          srtpCipher: r.srtpCipher,
          iceRole: r.iceRole,
        };
        const pair = stats.get(r.selectedCandidatePairId);
        if (pair) {
          const l = stats.get(pair.localCandidateId);
          const rc = stats.get(pair.remoteCandidateId);
          out.selectedPair = `${l?.address}:${l?.port}/${l?.protocol} (${l?.candidateType}) <-> ${rc?.address}:${rc?.port}/${rc?.protocol} (${rc?.candidateType})`;
        }
      }
    }
  } catch (err) {
    out.error = String(err && err.stack ? err.stack : err);
  } finally {
    try { pc1 && pc1.close(); } catch {}
    try { pc2 && pc2.close(); } catch {}
    if (stream) stream.getTracks().forEach((t) => t.stop());
  }
  return out;
}

const chosenCount = (r, codec) => (r.codecPreferences || []).filter((c) => c.toLowerCase().startsWith(`video/${codec}`.toLowerCase())).length;

// --- driver -----------------------------------------------------------------
const results = [];
let browser;
let failed = false;
try {
  browser = await launchChromium();
  const version = browser.context.browser()?.version() ?? 'unknown';
  console.log(`chromium ${version} (pid ${browser.pid}) started in ${ms(browser.launchMs)}; page origin ${origin}`);
  if (process.env.SELFTEST_VERBOSE === '1') console.log(`  argv: ${(browser.argv || []).join(' ')}`);

  for (const codec of CODECS) {
    const page = await browser.newPage();
    pipePageLogs(page, codec);
    const tNav = performance.now();
    await page.goto(`${origin}/?codec=${codec}`, { waitUntil: 'load' });
    const secure = await evaluate(page, () => isSecureContext && !!navigator.mediaDevices, null, 5_000, 'secure-context check');
    const navMs = performance.now() - tNav;
    const t0 = performance.now();
    const r = await evaluate(page, inPageLoopback, { codec, minFrames: MIN_FRAMES, budgetMs: PER_CODEC_MS }, PER_CODEC_MS + 3_000, `loopback ${codec}`);
    r.wallMs = performance.now() - t0;
    r.navMs = navMs;
    r.secure = secure;
    await withTimeout(page.close(), 5_000, 'page close').catch(() => {});

    // --- checks ---
    const problems = [];
    if (!secure) problems.push('page is not a secure context');
    if (r.error) problems.push(`error: ${r.error}`);
    if (!r.video) problems.push('no inbound-rtp video on pc2');
    else {
      if (!(r.video.framesDecoded >= MIN_FRAMES)) problems.push(`framesDecoded ${r.video.framesDecoded} < ${MIN_FRAMES}`);
      if ((r.video.mimeType || '').toLowerCase() !== `video/${codec}`.toLowerCase())
        problems.push(`video codec ${r.video.mimeType} != video/${codec}`);
    }
    if (!r.audio || !(r.audio.packetsReceived > 0)) problems.push('no inbound audio packets on pc2');
    const allCands = [...r.candidates.pc1, ...r.candidates.pc2];
    const loopHost = allCands.filter((c) => / 127\.0\.0\.1 \d+ typ host/.test(c));
    if (!loopHost.length) problems.push('no 127.0.0.1 host candidate gathered');
    const mdns = allCands.filter((c) => /\.local /.test(c));
    if (mdns.length) problems.push(`mDNS-obfuscated candidates present (${mdns.length}); was getUserMedia called first?`);

    const ok = problems.length === 0;
    failed ||= !ok;
    results.push({ codec, ok, r });

    console.log(`\n=== ${codec}: ${ok ? 'PASS' : 'FAIL'} ===`);
    console.log(`  tracks: ${(r.tracks || []).join(', ')}`);
    console.log(`  codec preferences (first ${chosenCount(r, codec)} = ${codec}): ${(r.codecPreferences || []).join(' | ')}`);
    if (r.video)
      console.log(
        `  inbound video: framesDecoded=${r.video.framesDecoded} ${r.video.frameWidth}x${r.video.frameHeight} ` +
          `codec=${r.video.mimeType} pt=${r.video.payloadType} fmtp="${r.video.sdpFmtpLine || ''}" ` +
          `decoder=${r.video.decoderImplementation} encoder=${r.encoderImplementation}`,
      );
    if (r.audio) console.log(`  inbound audio: packetsReceived=${r.audio.packetsReceived} codec=${r.audio.mimeType} pt=${r.audio.payloadType}`);
    if (r.transport) console.log(`  transport: ${JSON.stringify(r.transport)}`);
    if (r.selectedPair) console.log(`  selected pair: ${r.selectedPair}`);
    console.log('  candidates (pc1):');
    for (const c of r.candidates.pc1) console.log(`    a=${c}`);
    console.log('  candidates (pc2):');
    for (const c of r.candidates.pc2) console.log(`    a=${c}`);
    const t = r.timings;
    console.log(
      `  timings: page load ${ms(r.navMs)}; in page: getUserMedia ${t.gum} ms, negotiated ${t.negotiated} ms, ` +
        `connected ${t.connected} ms, gathering complete ${t.gatheringComplete} ms, first frame ${t.firstFrame} ms, ` +
        `${MIN_FRAMES} frames ${t.done} ms (wall ${ms(r.wallMs)})`,
    );
    for (const p of problems) console.log(`  problem: ${p}`);

    if (ok && codec.toUpperCase() === 'VP8' && WRITE_FIXTURE && r.offerSdpWithCandidates) {
      fs.mkdirSync(path.dirname(FIXTURE), { recursive: true });
      fs.writeFileSync(FIXTURE, r.offerSdpWithCandidates);
      console.log(`  wrote ${path.relative(process.cwd(), FIXTURE)} (${r.offerSdpWithCandidates.length} bytes, CRLF line ends)`);
    }
  }
} catch (err) {
  failed = true;
  console.log(`FAIL: ${err && err.stack ? err.stack : err}`);
} finally {
  if (browser) await browser.close();
  server.close();
  server.closeAllConnections?.();
}

const summary = CODECS.map((c) => `${c}=${results.find((x) => x.codec === c)?.ok ? 'PASS' : 'FAIL'}`).join(' ');
console.log(`\nselftest: ${failed ? 'FAIL' : 'PASS'} (${summary}) in ${ms(performance.now() - tStart)}`);
const nPass = results.filter((x) => x.ok).length;
console.log(`${nPass} passed, ${CODECS.length - nPass} failed`);
process.exit(failed ? 1 : 0);
