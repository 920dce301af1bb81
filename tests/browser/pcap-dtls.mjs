// Summarise the DTLS handshakes in a pcap (classic libpcap format) taken on
// loopback while a WebRTC test ran, e.g.:
//
//   tests/browser/netns-run.sh sh -c '
//     tcpdump -i lo -U -s 0 -w /tmp/webrtc.pcap udp 2>/dev/null & T=$!; sleep 0.5
//     node tests/browser/selftest.mjs; rc=$?; sleep 0.3; kill $T; wait $T; exit $rc'
//   node tests/browser/pcap-dtls.mjs /tmp/webrtc.pcap
//
// Prints, per UDP flow, every DTLS plaintext handshake record (epoch 0):
// datagram size, record length, handshake type, message length and fragment,
// and for ClientHello/ServerHello the versions, cipher suites, groups,
// key_share groups and use_srtp profiles. No dependencies.
//
//   --save-client-hello PREFIX   also write the UDP payloads that carry the
//                                first ClientHello as PREFIX-1.bin, PREFIX-2.bin, ...
//                                (raw DTLS records, as a DTLS server receives them)

import fs from 'node:fs';

const argv = process.argv.slice(2);
let savePrefix = null;
const si = argv.indexOf('--save-client-hello');
if (si >= 0) {
  savePrefix = argv[si + 1];
  argv.splice(si, 2);
}
const file = argv[0];
if (!file || (si >= 0 && !savePrefix)) {
  console.error('usage: node pcap-dtls.mjs [--save-client-hello PREFIX] FILE.pcap');
  process.exit(2);
}
const buf = fs.readFileSync(file);

// --- pcap ----------------------------------------------------------------
const magic = buf.readUInt32LE(0);
let le;
if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
else throw new Error('not a classic pcap file (pcapng is not supported; use tcpdump -w)');
const u32 = (o) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
const linktype = u32(20) & 0x0fffffff;

function* packets() {
  let off = 24;
  while (off + 16 <= buf.length) {
    const incl = u32(off + 8);
    const data = buf.subarray(off + 16, off + 16 + incl);
    yield { ts: u32(off) + u32(off + 4) / 1e6, data };
    off += 16 + incl;
  }
}

function l3(data) {
  switch (linktype) {
    case 1: { // Ethernet
      let et = data.readUInt16BE(12), o = 14;
      while (et === 0x8100) { et = data.readUInt16BE(o + 2); o += 4; }
      return { et, ip: data.subarray(o) };
    }
    case 113: return { et: data.readUInt16BE(14), ip: data.subarray(16) }; // Linux SLL
    case 276: return { et: data.readUInt16BE(0), ip: data.subarray(20) }; // Linux SLL2
    case 0: { // BSD null/loopback
      const af = data.readUInt32LE(0);
      return { et: af === 2 ? 0x0800 : 0x86dd, ip: data.subarray(4) };
    }
    case 101: return { et: (data[0] >> 4) === 4 ? 0x0800 : 0x86dd, ip: data }; // raw IP
    default: throw new Error(`unsupported pcap link type ${linktype}`);
  }
}

function udp(data) {
  const { et, ip } = l3(data);
  let proto, src, dst, o;
  if (et === 0x0800) {
    proto = ip[9]; o = (ip[0] & 0x0f) * 4;
    src = `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`; dst = `${ip[16]}.${ip[17]}.${ip[18]}.${ip[19]}`;
  } else if (et === 0x86dd) {
    proto = ip[6]; o = 40;
    const a = (b) => Array.from({ length: 8 }, (_, i) => ip.readUInt16BE(b + 2 * i).toString(16)).join(':');
    src = `[${a(8)}]`; dst = `[${a(24)}]`;
  } else return null;
  if (proto !== 17) return null;
  const u = ip.subarray(o);
  return { src: `${src}:${u.readUInt16BE(0)}`, dst: `${dst}:${u.readUInt16BE(2)}`, payload: u.subarray(8, u.readUInt16BE(4)) };
}

// --- TLS/DTLS names --------------------------------------------------------
const HS = { 1: 'ClientHello', 2: 'ServerHello', 3: 'HelloVerifyRequest', 4: 'NewSessionTicket', 8: 'EncryptedExtensions', 11: 'Certificate', 12: 'ServerKeyExchange', 13: 'CertificateRequest', 14: 'ServerHelloDone', 15: 'CertificateVerify', 16: 'ClientKeyExchange', 20: 'Finished' };
const CT = { 20: 'ChangeCipherSpec', 21: 'Alert', 22: 'Handshake', 23: 'ApplicationData', 25: 'ACK' };
const VER = { 0xfeff: 'DTLS1.0', 0xfefd: 'DTLS1.2', 0xfefc: 'DTLS1.3' };
const GROUP = { 0x0017: 'secp256r1', 0x0018: 'secp384r1', 0x001d: 'x25519', 0x11ec: 'X25519MLKEM768', 0x6399: 'X25519Kyber768Draft00' };
const SRTP = { 1: 'AES128_CM_SHA1_80', 2: 'AES128_CM_SHA1_32', 7: 'AEAD_AES_128_GCM', 8: 'AEAD_AES_256_GCM' };
const EXT = { 0: 'server_name', 10: 'supported_groups', 11: 'ec_point_formats', 13: 'signature_algorithms', 14: 'use_srtp', 16: 'alpn', 23: 'extended_master_secret', 35: 'session_ticket', 41: 'pre_shared_key', 43: 'supported_versions', 44: 'cookie', 45: 'psk_key_exchange_modes', 51: 'key_share', 65281: 'renegotiation_info' };
const name = (t, v) => t[v] ?? `0x${v.toString(16).padStart(4, '0')}`;
const list16 = (b) => Array.from({ length: b.length / 2 }, (_, i) => b.readUInt16BE(2 * i));

function parseHello(type, body) {
  // body = complete handshake message body (reassembled)
  let o = 0;
  const info = { legacy_version: name(VER, body.readUInt16BE(0)) };
  o = 2 + 32;
  const sidLen = body[o]; o += 1 + sidLen;
  if (type === 1) {
    const cookieLen = body[o]; info.dtls12_cookie = cookieLen; o += 1 + cookieLen;
    const csLen = body.readUInt16BE(o); info.cipher_suites = list16(body.subarray(o + 2, o + 2 + csLen)).map((c) => c.toString(16).padStart(4, '0')); o += 2 + csLen;
    o += 1 + body[o]; // compression methods
  } else {
    info.cipher_suite = body.readUInt16BE(o).toString(16).padStart(4, '0'); o += 3;
  }
  if (o + 2 > body.length) return info;
  const extEnd = o + 2 + body.readUInt16BE(o); o += 2;
  info.extensions = [];
  while (o + 4 <= extEnd) {
    const et = body.readUInt16BE(o), el = body.readUInt16BE(o + 2), ed = body.subarray(o + 4, o + 4 + el);
    info.extensions.push(`${name(EXT, et)}(${el})`);
    if (et === 43) info.supported_versions = type === 1 ? Array.from({ length: ed[0] / 2 }, (_, i) => name(VER, ed.readUInt16BE(1 + 2 * i))) : name(VER, ed.readUInt16BE(0));
    if (et === 10) info.supported_groups = list16(ed.subarray(2, 2 + ed.readUInt16BE(0))).map((g) => name(GROUP, g));
    if (et === 51) {
      const ks = [];
      if (type === 1) {
        let p = 2;
        while (p + 4 <= ed.length) { const g = ed.readUInt16BE(p), l = ed.readUInt16BE(p + 2); ks.push(`${name(GROUP, g)}(${l} B)`); p += 4 + l; }
      } else ks.push(name(GROUP, ed.readUInt16BE(0)));
      info.key_share = ks;
    }
    if (et === 14) info.use_srtp = list16(ed.subarray(2, 2 + ed.readUInt16BE(0))).map((p) => name(SRTP, p));
    o += 4 + el;
  }
  return info;
}

// --- walk -------------------------------------------------------------------
const frags = new Map(); // flow+msg_seq -> { type, len, parts: Map(off -> Buffer) }
let chFlow = null; // flow of the first ClientHello
const chDatagrams = [];
let t0 = null, n = 0;
for (const pkt of packets()) {
  const u = udp(pkt.data);
  if (!u || u.payload.length < 13) continue;
  const first = u.payload[0];
  if (first < 20 || first > 63) continue; // RFC 7983: DTLS range only (not STUN/RTP)
  t0 ??= pkt.ts;
  const flow = `${u.src} -> ${u.dst}`;
  let o = 0;
  const recs = [];
  while (o < u.payload.length) {
    const b0 = u.payload[o];
    if (b0 >= 32) { recs.push(`DTLS1.3-ciphertext(unified hdr 0x${b0.toString(16)})`); break; }
    if (o + 13 > u.payload.length) break;
    const ver = u.payload.readUInt16BE(o + 1), epoch = u.payload.readUInt16BE(o + 3), len = u.payload.readUInt16BE(o + 11);
    const rec = u.payload.subarray(o + 13, o + 13 + len);
    let desc = `${name(CT, b0)} ${name(VER, ver)} epoch ${epoch} len ${len}`;
    if (b0 === 22 && epoch === 0 && rec.length >= 12) {
      const ht = rec[0], ml = rec.readUIntBE(1, 3), seq = rec.readUInt16BE(4), fo = rec.readUIntBE(6, 3), fl = rec.readUIntBE(9, 3);
      desc += ` | ${name(HS, ht)} msg_seq ${seq} msg_len ${ml} frag ${fo}+${fl}`;
      if (ht === 1 && seq === 0) {
        chFlow ??= flow;
        if (chFlow === flow && !chDatagrams.includes(u.payload)) chDatagrams.push(u.payload);
      }
      const key = `${flow}#${seq}#${ht}`;
      const f = frags.get(key) ?? { type: ht, len: ml, parts: new Map(), flow, done: false };
      f.parts.set(fo, rec.subarray(12, 12 + fl));
      frags.set(key, f);
      const have = [...f.parts.values()].reduce((a, b) => a + b.length, 0);
      if (!f.done && have >= ml && (ht === 1 || ht === 2)) {
        f.done = true;
        const body = Buffer.alloc(ml);
        for (const [off, part] of f.parts) part.copy(body, off);
        f.info = parseHello(ht, body);
        f.nfrag = f.parts.size;
      }
    }
    recs.push(desc);
    o += 13 + len;
  }
  if (n++ < 40) console.log(`+${(pkt.ts - t0).toFixed(3)}s ${flow} udp ${u.payload.length} B: ${recs.join(' ; ')}`);
}
console.log('\nHello messages:');
for (const f of frags.values()) {
  if (!f.info) continue;
  console.log(`${f.flow}: ${name(HS, f.type)} msg_len ${f.len} in ${f.nfrag} fragment(s)`);
  console.log(`  ${JSON.stringify(f.info)}`);
}

if (savePrefix) {
  if (!chDatagrams.length) {
    console.error('no ClientHello found');
    process.exit(1);
  }
  chDatagrams.forEach((d, i) => fs.writeFileSync(`${savePrefix}-${i + 1}.bin`, d));
  console.log(`\nsaved ${chDatagrams.length} ClientHello datagram(s): ${chDatagrams.map((d, i) => `${savePrefix}-${i + 1}.bin (${d.length} B)`).join(', ')}`);
}
