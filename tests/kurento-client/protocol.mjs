// The protocol scenarios of Kurento's own kurento-client tests that need no media from
// the internet, with the unchanged npm kurento-client against mediaflow-server:
// the ServerManager (getInfo, getPipelines, getSessions...), setName, implicit
// transactions (`useImplicitTransactions`: the calls of one tick go as one
// `transaction`), release cascades with 40101 afterwards (a ReferenceError in JS), and
// the pipeline limit (40009).
//
// Explicit transactions (`beginTransaction`, `transaction(fn)`) cannot be tested with
// this client on Node 20: kurento-client 7.3.0's Transaction calls the `domain`
// module's Domain without `new` (it is a class now) and throws before sending anything.
// The server's `transaction` with `newref:` is tested with raw JSON in
// crates/server/tests/protocol.rs.
//
//   node tests/kurento-client/protocol.mjs ws://127.0.0.1:PORT/kurento MAX_PIPELINES
//
// Prints one JSON line: {ok, problems, ...}.

import kurento from 'kurento-client';

const WS_URI = process.argv[2];
const MAX_PIPELINES = Number(process.argv[3] || 3);
const out = { ok: false, problems: [] };
const check = (cond, what) => { if (!cond) out.problems.push(what); };
setTimeout(() => { out.error = 'timeout after 60 s'; finish(124); }, 60_000).unref();

function finish(code) {
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(code);
}

// kurento-client hands errors to callbacks; its promises without one log and resolve.
const withCallback = (fn) => new Promise((resolve) => fn((error, value) => resolve({ error, value })));

async function main() {
  const client = await kurento(WS_URI, { failAfter: 1 });
  const manager = await client.getServerManager();
  const info = await manager.getInfo();
  out.modules = info.modules.map((m) => m.name);
  check(['core', 'elements', 'filters'].every((m) => out.modules.includes(m)), `modules ${out.modules}`);
  out.cpuCount = await manager.getCpuCount();
  check(out.cpuCount >= 1, `getCpuCount ${out.cpuCount}`);
  out.usedMemory = await manager.getUsedMemory();
  check(out.usedMemory > 0, `getUsedMemory ${out.usedMemory}`);
  const sessions = await manager.getSessions();
  check(sessions.length >= 1, `getSessions ${JSON.stringify(sessions)}`);
  check(JSON.parse(await manager.getMetadata()).server === 'mediaflow-server', 'getMetadata');

  // Implicit transactions: what one tick queues goes as one `transaction` request.
  const batched = await kurento(WS_URI, { failAfter: 1, useImplicitTransactions: true });
  const pipeline = await batched.create('MediaPipeline');
  check(typeof pipeline.id === 'string' && pipeline.id.endsWith('_kurento.MediaPipeline'), `pipeline id ${pipeline.id}`);
  const [source, sink, third] = await Promise.all([
    pipeline.create('PassThrough'), pipeline.create('PassThrough'), pipeline.create('PassThrough'),
  ]);
  check(source.id.startsWith(`${pipeline.id}/`) && source.id.endsWith('_kurento.PassThrough'), `element id ${source.id}`);
  await Promise.all([source.connect(sink), sink.connect(third), source.setName('source'), sink.setName('sink')]);
  const names = await Promise.all([source.getName(), sink.getName()]);
  check(names[0] === 'source' && names[1] === 'sink', `names ${names}`);
  const sinks = await source.getSinkConnections();
  check(sinks.length === 3 && sinks.every((c) => c.sink.id === sink.id || c.sink === sink.id), `sink connections ${JSON.stringify(sinks)}`);

  await pipeline.setName('room-1');
  out.name = await pipeline.getName();
  check(out.name === 'room-1', `getName ${out.name}`);
  const children = await pipeline.getChildren();
  check(children.length === 3, `getChildren ${children.length}`);
  const listed = (await manager.getPipelines()).map((p) => p.id);
  check(listed.includes(pipeline.id), 'getPipelines lists the pipeline');

  // Release cascades: the elements went with their pipeline.
  await pipeline.release();
  const gone = await withCallback((cb) => source.getName(cb));
  out.afterRelease = gone.error && gone.error.code;
  check(gone.error instanceof ReferenceError && gone.error.code === 40101, `after release: ${gone.error && gone.error.code}`);

  // The pipeline limit.
  const made = [];
  let limited = null;
  for (let i = 0; i <= MAX_PIPELINES && !limited; i++) {
    const r = await withCallback((cb) => client.create('MediaPipeline', cb));
    if (r.error) limited = r.error; else made.push(r.value);
  }
  out.limitCode = limited && limited.code;
  check(limited && limited.code === 40009 && made.length === MAX_PIPELINES, `limit: ${made.length} made, then ${limited && limited.code}`);
  for (const p of made) await p.release();

  batched.close();
  client.close();
  out.ok = out.problems.length === 0;
}

main().then(
  () => finish(out.ok ? 0 : 1),
  (err) => { out.error = String(err && err.stack ? err.stack : err); finish(1); },
);
