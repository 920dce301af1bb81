// Kurento's Player tutorial (kurento-player), as its application writes it with the
// unchanged npm kurento-client, against mediaflow-server; a recvonly headless Chromium
// (tests/browser/peer.mjs) is the browser.
//
//   node tests/kurento-client/player.mjs ws://127.0.0.1:PORT/kurento file:///path/clip.webm
//
// The application: a MediaPipeline, a WebRtcEndpoint, a PlayerEndpoint on the file
// (useEncodedMedia as the tutorial may pass it), player.connect(webRtcEndpoint),
// processOffer, gatherCandidates, trickle both ways, then play(). It checks that the
// browser decodes the file's video, getVideoInfo (Kurento's VideoInfo), getPosition
// advancing, getState and UriEndpointStateChanged, EndOfStream at the end of the file,
// and that a URI the server cannot play gives an Error event INVALID_URI after play().
//
// Prints one JSON line: {ok, frames, events, videoInfo, problems, ...}.
// Run it under tests/browser/netns-run.sh together with the server.

import kurento from 'kurento-client';
import { browser, checker, run, sleep, waitFor } from './common.mjs';

const WS_URI = process.argv[2];
const URI = process.argv[3];
const BUDGET_MS = 90_000;
const PLAYER_EVENTS = ['EndOfStream', 'UriEndpointStateChanged', 'Error'];

const out = { ok: false, frames: 0, events: {}, states: [], problems: [] };
const check = checker(out);

async function main() {
  const client = await kurento(WS_URI, { failAfter: 1 });
  const pipeline = await client.create('MediaPipeline');
  const webRtcEndpoint = await pipeline.create('WebRtcEndpoint');
  const player = await pipeline.create('PlayerEndpoint', { uri: URI, useEncodedMedia: false });
  check(player.id.startsWith(`${pipeline.id}/`) && player.id.endsWith('_kurento.PlayerEndpoint'), `player id ${player.id}`);
  const first = {};
  for (const type of PLAYER_EVENTS) {
    player.on(type, (event) => {
      out.events[type] = (out.events[type] || 0) + 1;
      if (!first[type]) first[type] = event;
      if (type === 'UriEndpointStateChanged') out.states.push(event.state);
    });
  }
  const info = await player.getVideoInfo();
  out.videoInfo = { isSeekable: info.isSeekable, seekableInit: info.seekableInit, seekableEnd: info.seekableEnd, duration: info.duration };
  check(info.isSeekable === true && info.duration > 1000, `getVideoInfo ${JSON.stringify(out.videoInfo)}`);
  check(await player.getUri() === URI, 'getUri');
  await player.connect(webRtcEndpoint);

  const page = browser('viewer', { direction: 'recvonly', hold: true, minFrames: 30, budgetMs: 45_000, problems: out.problems },
    async (sdpOffer, ready) => {
      ready(webRtcEndpoint);
      const answer = await webRtcEndpoint.processOffer(sdpOffer);
      // As the tutorial: play once the answer is made.
      await player.play();
      return answer;
    });
  const result = await page.result;
  out.frames = result.framesDecoded || 0;
  out.browser = { ok: result.ok, videoCodec: result.videoCodec, audioPackets: result.audioPackets, error: result.error };
  check(result.ok, `browser: ${result.error}`);
  out.state = await player.getState();
  const position = await player.getPosition();
  out.position = Number(position);
  check(out.position > 0, `getPosition while playing: ${position}`);
  check(await waitFor(() => out.events.EndOfStream, 30_000), 'no EndOfStream');
  check(await waitFor(() => out.states.includes('STOP'), 5_000), `UriEndpointStateChanged: ${out.states}`);
  out.stateAfter = await player.getState();
  check(out.stateAfter === 'STOP', `getState after the end: ${out.stateAfter}`);
  check(out.states[0] === 'START', `first UriEndpointStateChanged: ${out.states}`);
  const end = first.EndOfStream;
  if (end) check(end.source === player.id && typeof end.timestampMillis === 'string', 'EndOfStream fields');
  check(!out.events.Error, `Error events: ${JSON.stringify(first.Error)}`);

  // A URI mediaflow cannot play: play() answers, an Error event INVALID_URI follows.
  const bad = await pipeline.create('PlayerEndpoint', { uri: 'rtsp://127.0.0.1/stream' });
  let badError = null;
  bad.on('Error', (e) => { badError = e; });
  await bad.play();
  check(await waitFor(() => badError, 5_000), 'no Error for an rtsp:// URI');
  out.badType = badError && badError.type;
  check(out.badType === 'INVALID_URI', `Error type ${out.badType}`);

  page.close();
  await sleep(100);
  await pipeline.release();
  client.close();
  out.ok = out.problems.length === 0;
}

run(out, BUDGET_MS, main);
