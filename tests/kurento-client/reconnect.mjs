// kurento-client's reconnect against mediaflow-server, with a real connection drop:
// the client talks to the server through a TCP relay of this script, which cuts every
// connection at once. kurento-client (reconnect-ws) reconnects and sends `connect` with
// its session id; within the server's grace period the session is still there, so
// it emits `reconnected(true)` and its objects, their names and its subscriptions work
// as before. Then the relay cuts again and holds the client's new connection for longer
// than the grace period before it reaches the server: the client's `connect` gets
// INVALID_SESSION, it emits `reconnected(false)`, and the
// old objects are gone (40101).
//
//   node tests/kurento-client/reconnect.mjs ws://127.0.0.1:PORT/kurento GRACE_SECS
//
// Prints one JSON line: {ok, problems, ...}.

import net from 'node:net';
import kurento from 'kurento-client';

const WS_URI = new URL(process.argv[2]);
const GRACE_MS = Number(process.argv[3] || 3) * 1000;
const out = { ok: false, problems: [] };
const check = (cond, what) => { if (!cond) out.problems.push(what); };
setTimeout(() => { out.error = 'timeout after 60 s'; finish(124); }, 60_000).unref();

function finish(code) {
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(code);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const withCallback = (fn) => new Promise((resolve) => fn((error, value) => resolve({ error, value })));
function within(promise, ms, what) {
  return Promise.race([promise, sleep(ms).then(() => { throw new Error(`no ${what} within ${ms} ms`); })]);
}

// The relay: every accepted connection is piped to the server; `cut()` destroys them
// all; while `holding` (a stalled path), a new connection waits, its bytes unread, and
// reaches the server only when the hold ends. (A refused or reset attempt would not do:
// kurento-client 7.3.0 does not listen for reconnect-core's 'error' event, so a failed
// reconnect attempt throws out of the process.)
const live = new Set();
let holding = null;
let accepted = 0;
const relay = net.createServer(async (client) => {
  accepted += 1;
  client.pause();
  if (holding) await holding.promise;
  const server = net.connect(Number(WS_URI.port), WS_URI.hostname);
  const pair = { client, server };
  live.add(pair);
  const drop = () => { client.destroy(); server.destroy(); live.delete(pair); };
  client.on('error', drop).on('close', drop);
  server.on('error', drop).on('close', drop);
  client.pipe(server);
  server.pipe(client);
});
const hold = () => { let release; const promise = new Promise((r) => { release = r; }); holding = { promise, release }; };
const unhold = () => { const h = holding; holding = null; h.release(); };
await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
const cut = () => { for (const { client, server } of [...live]) { client.destroy(); server.destroy(); } live.clear(); };
const RELAYED = `ws://127.0.0.1:${relay.address().port}${WS_URI.pathname}`;

async function main() {
  const client = await kurento(RELAYED, { failAfter: 20 });
  const reconnects = [];
  let onReconnect = () => {};
  client.on('reconnected', (sameSession) => { reconnects.push(sameSession); onReconnect(sameSession); });
  const nextReconnect = () => new Promise((resolve) => { onReconnect = resolve; });

  const pipeline = await client.create('MediaPipeline');
  const source = await pipeline.create('PassThrough');
  const sink = await pipeline.create('PassThrough');
  await source.setName('kept');
  const connected = [];
  source.on('ElementConnected', (event) => connected.push(event));
  await source.getName(); // after the subscribe, on the same connection
  // The client's own session: the only one (kurento-client's `sessionId` is not
  // readable on the object its promise resolves to).
  const manager = await client.getServerManager();
  const before = await manager.getSessions();
  check(before.length === 1, `sessions before the drop: ${JSON.stringify(before)}`);
  const session = before[0];
  out.session = session;

  // 1. A drop shorter than the grace period: the same session, the same objects.
  let reconnected = nextReconnect();
  cut();
  out.sameSession = await within(reconnected, 20_000, 'reconnect after the cut');
  check(out.sameSession === true, `reconnected(${out.sameSession}) after a short drop`);
  out.nameAfterReconnect = await source.getName();
  check(out.nameAfterReconnect === 'kept', `getName after the reconnect: ${out.nameAfterReconnect}`);
  const sessions = await manager.getSessions();
  check(sessions.includes(session), `getSessions after the reconnect: ${JSON.stringify(sessions)}`);
  // The subscription made before the drop still delivers.
  await source.connect(sink);
  const until = Date.now() + 5_000;
  while (!connected.length && Date.now() < until) await sleep(50);
  out.eventsAfterReconnect = connected.length;
  check(connected.length > 0 && connected[0].sink === sink.id, `ElementConnected after the reconnect: ${JSON.stringify(connected[0])}`);

  // 2. Away for longer than the grace period: the session and its objects are gone.
  reconnected = nextReconnect();
  hold();
  cut();
  await sleep(GRACE_MS + 2_000);
  unhold();
  out.sameSessionAfterGrace = await within(reconnected, 30_000, 'reconnect after the grace period');
  check(out.sameSessionAfterGrace === false, `reconnected(${out.sameSessionAfterGrace}) after the grace period`);
  const gone = await withCallback((cb) => source.getName(cb));
  out.afterGrace = gone.error && gone.error.code;
  check(out.afterGrace === 40101, `a call on an expired session's object: ${out.afterGrace} ${gone.error && gone.error.message}`);
  // The client keeps working in its new session.
  const fresh = await client.create('MediaPipeline');
  check(typeof fresh.id === 'string', 'create after the new session');
  await fresh.release();

  out.reconnects = reconnects;
  out.relayedConnections = accepted;
  client.close();
  relay.close();
  out.ok = out.problems.length === 0;
}

main().then(
  () => finish(out.ok ? 0 : 1),
  (err) => { out.error = String(err && err.stack ? err.stack : err); finish(1); },
);
