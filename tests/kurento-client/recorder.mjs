// Kurento's Hello World with recording (kurento-hello-world-recording), as its
// application writes it with the unchanged npm kurento-client, against
// mediaflow-server; headless Chromium (tests/browser/peer.mjs) is the browser.
//
//   node tests/kurento-client/recorder.mjs ws://127.0.0.1:PORT/kurento file:///path/rec.webm [seconds]
//
// The application: a MediaPipeline, a WebRtcEndpoint connected to itself and to a
// RecorderEndpoint (WEBM), processOffer, gatherCandidates, trickle both ways. Once the
// browser decodes its looped video, record() for `seconds`, then stopAndWait(). It
// checks the recorder's events (Recording, UriEndpointStateChanged, Stopped), getUri
// and getState, that an MP4 recorder is made and a JPEG one refused with Kurento's error, and ffprobe's
// reading of the file: a VP8 and an Opus track, lasting as long as the recording
// (within 0.5 s).
//
// The same call also crosses a pair of RtpEndpoints (Kurento's plain RTP endpoint, as
// a SIP gateway or another media server would use it): the WebRtcEndpoint feeds RtpEndpoint
// A, which offers to RtpEndpoint B (generateOffer / processOffer / processAnswer through
// the client); B must report ConnectionStateChanged CONNECTED and video flowing out of it
// (received over RTP, into a PassThrough). An SDES RtpEndpoint (Kurento's SDES complex type, as the client
// sends it) offers RTP/SAVPF with a key; one with an application's key is refused (40006).
//
// Prints one JSON line: {ok, frames, events, probe, recordedMs, rtp, problems, ...}.
// Run it under tests/browser/netns-run.sh together with the server.

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import kurento from 'kurento-client';
import { browser, checker, run, sleep, waitFor } from './common.mjs';

const WS_URI = process.argv[2];
const URI = process.argv[3];
const SECONDS = Number(process.argv[4] || 5);
const BUDGET_MS = 90_000;
const RECORDER_EVENTS = ['Recording', 'Paused', 'Stopped', 'UriEndpointStateChanged', 'Error'];

const out = { ok: false, frames: 0, events: {}, problems: [] };
const check = checker(out);

/** ffprobe's reading of `path`: its streams' type and codec, and its duration (s). */
function probe(path) {
  const text = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name:format=duration',
    '-of', 'json', path], { timeout: 20_000, encoding: 'utf8' });
  const json = JSON.parse(text);
  return {
    streams: (json.streams || []).map((s) => `${s.codec_type}/${s.codec_name}`).sort(),
    duration: Number(json.format && json.format.duration),
  };
}

/**
 * RtpEndpoint A (fed by `source`) offers to RtpEndpoint B; returns what B's events say
 * (`connected`, `videoOut`) as they come. Also checks SDES through the client.
 */
async function rtpEndpoints(pipeline, source) {
  const SDES = kurento.getComplexType('SDES');
  const secure = await pipeline.create('RtpEndpoint', { crypto: SDES({ crypto: 'AES_128_CM_HMAC_SHA1_80' }) });
  const secureOffer = await secure.generateOffer();
  check(/RTP\/SAVPF/.test(secureOffer) && /a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:/.test(secureOffer), 'an SDES offer');
  const keyed = await pipeline.create('RtpEndpoint', {
    crypto: SDES({ crypto: 'AES_128_CM_HMAC_SHA1_80', key: '012345678901234567890123456789' }),
  }).then(() => null, (err) => err);
  out.keyedCode = keyed && keyed.code;
  check(out.keyedCode === 40006, `an SDES key of the application's: ${keyed && keyed.message}`);

  const a = await pipeline.create('RtpEndpoint');
  const b = await pipeline.create('RtpEndpoint');
  const seen = { connected: false, videoOut: false };
  b.on('ConnectionStateChanged', (e) => { if (e.newState === 'CONNECTED') seen.connected = true; });
  b.on('MediaFlowOutStateChanged', (e) => { if (e.state === 'FLOWING' && e.mediaType === 'VIDEO') seen.videoOut = true; });
  // MediaFlowOut counts what leaves into a link: B feeds a PassThrough.
  const pass = await pipeline.create('PassThrough');
  await b.connect(pass);
  await source.connect(a);
  const offer = await a.generateOffer();
  const answer = await b.processOffer(offer);
  await a.processAnswer(answer);
  check(await a.getRemoteSessionDescriptor() === answer, 'A holds B\'s answer');
  check(await b.getConnectionState() === 'CONNECTED', 'B is CONNECTED');
  return seen;
}

async function main() {
  const client = await kurento(WS_URI, { failAfter: 1 });
  const pipeline = await client.create('MediaPipeline');
  const webRtcEndpoint = await pipeline.create('WebRtcEndpoint');
  const recorder = await pipeline.create('RecorderEndpoint', { uri: URI, mediaProfile: 'WEBM' });
  check(recorder.id.startsWith(`${pipeline.id}/`) && recorder.id.endsWith('_kurento.RecorderEndpoint'), `recorder id ${recorder.id}`);
  const first = {};
  for (const type of RECORDER_EVENTS) {
    recorder.on(type, (event) => {
      out.events[type] = (out.events[type] || 0) + 1;
      if (!first[type]) first[type] = event;
    });
  }
  // An MP4 recorder is made (the file is not touched before record()); what mediaflow
  // does not record yet (JPEG) is refused with Kurento's error, not a hang.
  const mp4 = await pipeline.create('RecorderEndpoint', { uri: `${URI}.mp4`, mediaProfile: 'MP4' })
    .then((r) => r, (err) => err);
  out.mp4Created = Boolean(mp4 && mp4.id && mp4.id.endsWith('_kurento.RecorderEndpoint'));
  check(out.mp4Created, `an MP4 recorder: ${mp4 && (mp4.message || mp4.id)}`);
  if (out.mp4Created) await mp4.release();
  const jpeg = await pipeline.create('RecorderEndpoint', { uri: `${URI}.jpg`, mediaProfile: 'JPEG_VIDEO_ONLY' })
    .then(() => null, (err) => err);
  out.unsupportedCode = jpeg && jpeg.code;
  check(out.unsupportedCode === 40006, `a JPEG recorder: ${jpeg && jpeg.message}`);

  await webRtcEndpoint.connect(webRtcEndpoint);
  await webRtcEndpoint.connect(recorder);
  const rtp = await rtpEndpoints(pipeline, webRtcEndpoint);
  const page = browser('browser', { hold: true, minFrames: 30, budgetMs: 45_000, problems: out.problems },
    async (sdpOffer, ready) => {
      ready(webRtcEndpoint);
      return webRtcEndpoint.processOffer(sdpOffer);
    });
  const result = await page.result;
  out.frames = result.framesDecoded || 0;
  out.browser = { ok: result.ok, videoCodec: result.videoCodec, audioPackets: result.audioPackets, error: result.error };
  check(result.ok, `browser: ${result.error}`);
  if (!result.ok) return;

  // The recording's timeline starts at record(): time it from there.
  const started = Date.now();
  await recorder.record();
  check(await waitFor(() => out.events.Recording && out.events.UriEndpointStateChanged, 5_000), 'no Recording event');
  out.state = await recorder.getState();
  check(out.state === 'START', `getState while recording: ${out.state}`);
  check(await recorder.getUri() === URI, 'getUri');
  await sleep(Math.max(0, SECONDS * 1000 - (Date.now() - started)));
  out.recordedMs = Date.now() - started;
  await recorder.stopAndWait();
  check(await waitFor(() => out.events.Stopped, 5_000), 'no Stopped event');
  out.stateAfter = await recorder.getState();
  check(out.stateAfter === 'STOP', `getState after stopAndWait: ${out.stateAfter}`);
  const rec = first.Recording;
  if (rec) check(rec.source === recorder.id && typeof rec.timestampMillis === 'string' && Array.isArray(rec.tags), 'Recording fields');
  const changed = first.UriEndpointStateChanged;
  if (changed) check(changed.state === 'START', `UriEndpointStateChanged.state ${changed.state}`);
  check(!out.events.Error, `Error events: ${JSON.stringify(first.Error)}`);
  check(await waitFor(() => rtp.connected && rtp.videoOut, 5_000), `the RtpEndpoint pair: ${JSON.stringify(rtp)}`);
  out.rtp = rtp;

  page.close();
  await pipeline.release();
  client.close();

  out.probe = probe(fileURLToPath(URI));
  check(out.probe.streams.includes('video/vp8') && out.probe.streams.includes('audio/opus'), `streams ${out.probe.streams}`);
  out.durationError = Math.abs(out.probe.duration - out.recordedMs / 1000);
  check(out.durationError <= 0.5, `duration ${out.probe.duration} s for ${out.recordedMs} ms recorded`);
  out.ok = out.problems.length === 0;
}

run(out, BUDGET_MS, main);
