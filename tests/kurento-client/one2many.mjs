// Kurento's One-to-many tutorial (kurento-one2many-call), as its application server
// writes it with the unchanged npm kurento-client, against mediaflow-server; headless
// Chromium peers (tests/browser/peer.mjs) are the presenter's and the viewers' browsers.
//
//   node tests/kurento-client/one2many.mjs ws://127.0.0.1:PORT/kurento [viewers] [minFrames]
//
// The presenter (kurento-utils' WebRtcPeerSendonly: a sendonly offer with the fake
// camera and microphone): create a MediaPipeline and a WebRtcEndpoint, processOffer,
// gatherCandidates, trickle both ways. Each viewer (WebRtcPeerRecvonly: a recvonly
// offer) joins at once with the others: a WebRtcEndpoint in the presenter's pipeline,
// processOffer, presenter.connect(viewer), gatherCandidates, trickle. Every viewer must
// decode minFrames of the presenter's video. Then the viewers stop (their endpoints
// are released, the presenter keeps its pipeline) and the presenter stops (the
// pipeline is released).
//
// Prints one JSON line: {ok, viewers: [{frames, ...}], problems, ...}.
// Run it under tests/browser/netns-run.sh together with the server.

import kurento from 'kurento-client';
import { browser as peerBrowser, checker, run, waitFor } from './common.mjs';

const WS_URI = process.argv[2];
const VIEWERS = Number(process.argv[3] || 3);
const MIN_FRAMES = Number(process.argv[4] || 60);
const BUDGET_MS = 150_000;

const out = { ok: false, presenter: null, viewers: [], problems: [] };
const check = checker(out);

// One Chromium (common.mjs) with the tutorial's signaling.
const browser = (name, direction, hold, start) =>
  peerBrowser(name, { direction, hold, minFrames: MIN_FRAMES, budgetMs: 60000, problems: out.problems }, start);

// Counts each endpoint's events (name → type → count) and keeps the first of each type.
const events = {};
function watch(name, endpoint) {
  events[name] = {};
  for (const type of ['MediaFlowInStateChanged', 'MediaFlowOutStateChanged', 'ElementConnected', 'ElementDisconnected', 'Error']) {
    endpoint.on(type, (event) => {
      const e = events[name];
      e[type] = (e[type] || 0) + 1;
      if (event.state === 'FLOWING' && event.mediaType === 'VIDEO') e[`${type}:FLOWING`] = true;
    });
  }
}

async function main() {
  const client = await kurento(WS_URI, { failAfter: 1 });

  // startPresenter
  const presenter = { pipeline: null, webRtcEndpoint: null };
  const presenterBrowser = browser('presenter', 'sendonly', true, async (sdpOffer, ready) => {
    presenter.pipeline = await client.create('MediaPipeline');
    presenter.webRtcEndpoint = await presenter.pipeline.create('WebRtcEndpoint');
    watch('presenter', presenter.webRtcEndpoint);
    ready(presenter.webRtcEndpoint);
    return presenter.webRtcEndpoint.processOffer(sdpOffer);
  });
  const sent = await presenterBrowser.result;
  out.presenter = { ok: sent.ok, videoPacketsSent: sent.videoPacketsSent, msConnected: sent.msToMinFrames, error: sent.error };
  check(sent.ok, `presenter: ${sent.error}`);
  if (!sent.ok) return;

  // startViewer, for every viewer at once
  const viewers = [];
  for (let i = 0; i < VIEWERS; i++) {
    const viewer = { name: `viewer${i + 1}`, webRtcEndpoint: null };
    viewer.browser = browser(viewer.name, 'recvonly', false, async (sdpOffer, ready) => {
      viewer.webRtcEndpoint = await presenter.pipeline.create('WebRtcEndpoint');
      watch(viewer.name, viewer.webRtcEndpoint);
      ready(viewer.webRtcEndpoint);
      const sdpAnswer = await viewer.webRtcEndpoint.processOffer(sdpOffer);
      await presenter.webRtcEndpoint.connect(viewer.webRtcEndpoint);
      return sdpAnswer;
    });
    viewers.push(viewer);
  }
  const results = await Promise.allSettled(viewers.map((v) => v.browser.result));
  results.forEach((r, i) => {
    const m = r.status === 'fulfilled' ? r.value : { ok: false, error: String(r.reason) };
    out.viewers.push({
      name: viewers[i].name, ok: m.ok, frames: m.framesDecoded || 0, videoCodec: m.videoCodec,
      frameWidth: m.frameWidth, audioPackets: m.audioPackets, msToFirstFrame: m.msToFirstFrame,
      msToMinFrames: m.msToMinFrames, error: m.error,
    });
    check(m.ok && (m.framesDecoded || 0) >= MIN_FRAMES, `${viewers[i].name}: ${m.framesDecoded || 0} frames, ${m.error}`);
  });

  // The presenter's endpoint feeds every viewer.
  const sinks = await presenter.webRtcEndpoint.getSinkConnections();
  out.presenterSinks = new Set(sinks.map((c) => (c.sink.id || c.sink))).size;
  check(out.presenterSinks === VIEWERS, `presenter sink connections ${JSON.stringify(sinks)}`);
  // Kurento's flow events are about an element's pads: media leaves the presenter's
  // endpoint (fed by its browser) through its source pads (MediaFlowOut) and enters each
  // viewer's endpoint through its sink pads (MediaFlowIn).
  await waitFor(() => viewers.every((v) => events[v.name] && events[v.name]['MediaFlowInStateChanged:FLOWING']), 5_000);
  for (const v of viewers) {
    check(events[v.name] && events[v.name]['MediaFlowInStateChanged:FLOWING'], `${v.name}: no MediaFlowInStateChanged FLOWING (VIDEO)`);
  }
  check(events.presenter['MediaFlowOutStateChanged:FLOWING'], 'presenter: no MediaFlowOutStateChanged FLOWING (VIDEO)');
  check(events.presenter.ElementConnected >= VIEWERS, `presenter: ${events.presenter.ElementConnected} ElementConnected`);
  out.events = events;

  // stop: each viewer's endpoint, then the presenter's pipeline.
  for (const v of viewers) {
    v.browser.close();
    if (v.webRtcEndpoint) await v.webRtcEndpoint.release();
  }
  const left = await presenter.webRtcEndpoint.getSinkConnections();
  check(left.length === 0, `sink connections after the viewers left: ${left.length}`);
  presenterBrowser.close();
  await presenter.pipeline.release();
  const manager = await client.getServerManager();
  const pipelines = await manager.getPipelines();
  check(!pipelines.some((p) => p.id === presenter.pipeline.id), 'the pipeline is still listed after release');
  client.close();
  out.ok = out.problems.length === 0 && out.viewers.length === VIEWERS;
}

run(out, BUDGET_MS, main);
