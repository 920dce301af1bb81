// Kurento's Hello World, as its tutorials write it with the unchanged npm kurento-client,
// against mediaflow-server; headless Chromium (tests/browser/peer.mjs) is the browser.
//
//   node tests/kurento-client/hello-world.mjs ws://127.0.0.1:PORT/kurento
//
// The application: create a MediaPipeline and a WebRtcEndpoint, subscribe to every
// event the endpoint can raise, connect the endpoint to itself, processOffer the
// browser's offer, gatherCandidates, trickle candidates both ways (addIceCandidate with
// Kurento's IceCandidate). Once the browser decoded its own looped video it checks the
// events' shapes and a few getters, disconnects (ElementDisconnected), releases the
// pipeline and checks that a call on the released endpoint fails with 40101.
//
// Prints one JSON line: {ok, frames, events: {type: count}, missing, problems, ...}.
// Run it under tests/browser/netns-run.sh together with the server.

import kurento from 'kurento-client';
import { browser, checker, run, waitFor } from './common.mjs';

const WS_URI = process.argv[2];
const MIN_FRAMES = Number(process.argv[3] || 60);
const BUDGET_MS = 90_000;

// Every event of Kurento's endpoint events list that a healthy loopback call raises
// (Error is subscribed too, but a healthy call raises none).
const EXPECTED = [
  'ElementConnected', 'ElementDisconnected', 'MediaFlowInStateChanged', 'MediaFlowOutStateChanged',
  'MediaTranscodingStateChanged', 'ConnectionStateChanged', 'MediaStateChanged', 'IceCandidateFound',
  'IceGatheringDone', 'IceComponentStateChanged', 'NewCandidatePairSelected', 'DtlsConnectionStateChange',
];
const SUBSCRIBED = ['Error', ...EXPECTED, 'DataChannelOpened', 'DataChannelClosed'];
const ICE_STATES = ['DISCONNECTED', 'GATHERING', 'CONNECTING', 'CONNECTED', 'READY', 'FAILED'];

const out = { ok: false, frames: 0, events: {}, missing: [], problems: [] };
const check = checker(out);

async function main() {
  const client = await kurento(WS_URI, { failAfter: 1 });
  const pipeline = await client.create('MediaPipeline');
  const webRtcEndpoint = await pipeline.create('WebRtcEndpoint');
  check(webRtcEndpoint.id.startsWith(`${pipeline.id}/`), `endpoint id ${webRtcEndpoint.id}`);

  const first = {};
  for (const type of SUBSCRIBED) {
    webRtcEndpoint.on(type, (event) => {
      out.events[type] = (out.events[type] || 0) + 1;
      if (!first[type]) first[type] = event;
    });
  }
  await webRtcEndpoint.connect(webRtcEndpoint);

  const page = browser('browser', { hold: true, minFrames: MIN_FRAMES, budgetMs: 45_000, problems: out.problems },
    async (sdpOffer, ready) => {
      ready(webRtcEndpoint);
      return webRtcEndpoint.processOffer(sdpOffer);
    });
  const result = await page.result;
  out.frames = result.framesDecoded || 0;
  out.browser = { ok: result.ok, videoCodec: result.videoCodec, audioPackets: result.audioPackets, error: result.error };
  check(result.ok, `browser: ${result.error}`);

  // MediaStateChanged follows RTCP; give the late events a moment.
  const before = EXPECTED.filter((t) => t !== 'ElementDisconnected');
  await waitFor(() => before.every((t) => out.events[t]), 15_000);

  // Kurento's shapes, as an application reads them.
  const found = first.IceCandidateFound;
  if (found) {
    check(found.source === webRtcEndpoint.id, `IceCandidateFound.source ${found.source}`);
    check(typeof found.timestampMillis === 'string', 'timestampMillis is not a string');
    check(Array.isArray(found.tags), 'tags is not an array');
    check(found.candidate.__module__ === 'kurento' && found.candidate.__type__ === 'IceCandidate', 'IceCandidate type');
    check(/^candidate:/.test(found.candidate.candidate), `candidate ${found.candidate.candidate}`);
  }
  const ice = first.IceComponentStateChanged;
  if (ice) check(ICE_STATES.includes(ice.state), `IceComponentStateChanged.state ${ice.state}`);
  const pair = first.NewCandidatePairSelected;
  if (pair) check(pair.candidatePair.__type__ === 'IceCandidatePair' && /^candidate:/.test(pair.candidatePair.localCandidate), 'candidate pair');
  const connected = first.ElementConnected;
  if (connected) check(connected.sink === webRtcEndpoint.id && ['AUDIO', 'VIDEO', 'DATA'].includes(connected.mediaType), 'ElementConnected fields');
  const flowing = first.MediaFlowInStateChanged;
  if (flowing) check(['FLOWING', 'NOT_FLOWING'].includes(flowing.state), `MediaFlowIn state ${flowing.state}`);

  // Getters and the ServerManager, through invoke.
  out.mediaState = await webRtcEndpoint.getMediaState();
  out.connectionState = await webRtcEndpoint.getConnectionState();
  check(out.connectionState === 'CONNECTED', `connection state ${out.connectionState}`);
  const stats = await webRtcEndpoint.getStats('VIDEO');
  out.statsTypes = [...new Set(Object.values(stats).map((s) => s.type))].sort();
  check(out.statsTypes.includes('inboundrtp') && out.statsTypes.includes('outboundrtp'), `stats ${out.statsTypes}`);
  const local = await webRtcEndpoint.getLocalSessionDescriptor();
  check(/^v=0/.test(local), 'local session descriptor');
  const manager = await client.getServerManager();
  const pipelines = await manager.getPipelines();
  check(pipelines.some((p) => p.id === pipeline.id), 'getPipelines lists the pipeline');

  await webRtcEndpoint.disconnect(webRtcEndpoint);
  await waitFor(() => out.events.ElementDisconnected, 5_000);

  page.close();
  await pipeline.release();
  // With a callback: kurento-client hands a getter's error to the callback (a promise
  // without one resolves to undefined after logging it).
  const afterRelease = await new Promise((resolve) => {
    webRtcEndpoint.getMediaState((err, state) => resolve(err || { code: null, state }));
  });
  out.afterRelease = afterRelease.code;
  check(afterRelease.code === 40101, `call after release: ${afterRelease.code} ${afterRelease.message}`);
  check(afterRelease instanceof ReferenceError, 'kurento-client makes 40101 a ReferenceError');
  out.missing = EXPECTED.filter((t) => !out.events[t]);
  client.close();
  out.ok = out.frames >= MIN_FRAMES && out.missing.length === 0 && out.problems.length === 0;
}

run(out, BUDGET_MS, main);
