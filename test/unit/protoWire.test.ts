import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { PROTO_FILE, decodePath, encodeVipRoute } from '../../src/bgp/pathCodec.ts';
import { decodeWatchTable, encodeAddPathStreamRequest, packIpAddressPrefix, readIpAddressPrefix } from '../../src/bgp/protoWire.ts';

// The reference: protobufjs encoding and decoding the same proto file gobgpd's messages are read with.
const root = new protobuf.Root();
root.resolvePath = (origin, target) => (target.startsWith('google/protobuf/') ? target : protobuf.util.path.resolve(origin, target));
root.loadSync(PROTO_FILE, { keepCase: true });
root.resolveAll();
const Response = root.lookupType('apipb.WatchEventResponse');

function encode(obj: Record<string, unknown>): Buffer {
  return Buffer.from(Response.encode(Response.fromObject(obj)).finish());
}

function generic(buf: Buffer): any {
  return Response.toObject(Response.decode(buf), { longs: Number, enums: String, defaults: true, oneofs: true });
}

/** A path as gobgpd sends it, with the fields the agent ignores set too (they must be skipped). */
function wirePath(ip: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const w = encodeVipRoute({ ip, family: ip.includes(':') ? 6 : 4, med: 20, localPref: 100, nextHop: ip.includes(':') ? '2001:db8::1' : '192.168.80.1' });
  return {
    ...w,
    age: { seconds: 1_700_000_000, nanos: 5 },
    source_asn: 65101,
    source_id: '192.168.80.1',
    uuid: Buffer.from('0123456789abcdef'),
    identifier: 7,
    local_identifier: 1,
    is_from_external: true,
    ...extra,
  };
}

test('table events: every path decodes to what the generic decoder gives, learned or local, v4 or v6, withdrawn or not', () => {
  const paths = [
    wirePath('10.200.0.1', { best: true }),
    wirePath('10.200.0.2', { best: true, neighbor_ip: '192.168.80.1' }),
    wirePath('2001:db8::10', { best: true, neighbor_ip: '2001:db8::1' }),
    wirePath('10.200.0.3', { is_withdraw: true, neighbor_ip: '192.168.80.1' }),
    wirePath('10.200.0.4', { neighbor_ip: '<nil>' }),
  ];
  const buf = encode({ table: { paths } });
  const lean = decodeWatchTable(buf);
  assert.ok(lean, 'a table event is read by the lean decoder');
  const ref = generic(buf).table.paths;
  assert.equal(lean.table.paths.length, ref.length);
  for (let i = 0; i < ref.length; i++) {
    // What the watch asks for: learned paths whole, local ones without attributes.
    assert.deepEqual(decodePath(lean.table.paths[i]!, { learnedAttributesOnly: true }), decodePath(ref[i], { learnedAttributesOnly: true }), `path ${i}`);
    const learned = Boolean(decodePath(ref[i])!.neighborIp);
    // Learned paths carry their attributes (next hop, MED, local-pref); a local path's are not read at all.
    if (learned) assert.deepEqual(decodePath(lean.table.paths[i]!), decodePath(ref[i]), `learned path ${i}, all attributes`);
    else assert.deepEqual(lean.table.paths[i]!.pattrs, [], `local path ${i}: attributes left unread`);
  }
  assert.equal(decodePath(lean.table.paths[1]!)!.nextHop, '192.168.80.1');
  assert.equal(decodePath(lean.table.paths[2]!)!.nextHop, '2001:db8::1');
  assert.equal(decodePath(lean.table.paths[1]!)!.med, 20);
  // The fields themselves, too.
  assert.equal(lean.table.paths[1]!.neighbor_ip, '192.168.80.1');
  assert.equal(lean.table.paths[3]!.is_withdraw, true);
  assert.equal(lean.table.paths[0]!.best, true);
  assert.equal(lean.table.paths[3]!.best, false);
});

test('peer events are left to the generic decoder; an empty table event has no paths', () => {
  const peer = encode({ peer: { type: 'STATE', peer: { conf: { neighbor_address: '192.168.80.1', peer_asn: 65101 } } } });
  assert.equal(decodeWatchTable(peer), undefined);
  assert.deepEqual(decodeWatchTable(encode({ table: {} })), { table: { paths: [] } });
});

test('malformed input throws a WatchEvent error and never reads past the buffer', () => {
  const buf = encode({ table: { paths: [wirePath('10.200.0.1', { neighbor_ip: '192.168.80.1' }), wirePath('10.200.0.2')] } });
  let threw = 0;
  for (let cut = 1; cut < buf.length; cut++) {
    try {
      const r = decodeWatchTable(buf.subarray(0, cut));
      // A cut that falls between two fields of the outer message can still parse; it must not invent paths.
      if (r) assert.ok(r.table.paths.length <= 2);
    } catch (err) {
      assert.match((err as Error).message, /^WatchEvent: /);
      threw++;
    }
  }
  assert.ok(threw > buf.length / 2, `most truncations are refused (${threw} of ${buf.length - 1})`);
  // A length prefix that claims more than there is.
  assert.throws(() => decodeWatchTable(Buffer.from([0x1a, 0x7f, 0x12, 0x00])), /WatchEvent: field length past the end/);
  // Wire types 3 and 4 (groups) are not used by proto3.
  assert.throws(() => decodeWatchTable(Buffer.from([0x0b])), /unsupported wire type 3/);
  // An 11-byte varint.
  assert.throws(() => decodeWatchTable(Buffer.from([0x08, ...Array(10).fill(0xff), 0x01])), /varint longer than 10 bytes/);
});

test('random bytes never crash the decoder: each input is refused with a WatchEvent error or read within bounds', () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  const base = encode({ table: { paths: [wirePath('10.200.0.1', { neighbor_ip: '192.168.80.1' })] } });
  for (let n = 0; n < 2000; n++) {
    const b = Buffer.from(base);
    for (let k = 0; k < 3; k++) b[rnd() % b.length] = rnd();
    try {
      decodeWatchTable(b);
    } catch (err) {
      assert.match((err as Error).message, /^WatchEvent: /);
    }
  }
});

test('AddPathStream requests decode to the same message protobufjs encodes (v4, v6, withdraw, MED and local-pref)', () => {
  const Req = root.lookupType('apipb.AddPathStreamRequest');
  const paths = [
    encodeVipRoute({ ip: '10.200.0.1', family: 4, med: 10, localPref: 5000 }),
    encodeVipRoute({ ip: '10.200.255.254', family: 4 }, true),
    encodeVipRoute({ ip: '2001:db8::10', family: 6, med: 20, localPref: 100 }),
    encodeVipRoute({ ip: '3ffe:cafe::1', family: 6 }, true),
  ];
  const lean = encodeAddPathStreamRequest(paths);
  const ref = Buffer.from(Req.encode(Req.fromObject({ table_type: 'GLOBAL', vrf_id: '', paths })).finish());
  // protobufjs also writes the proto3 defaults it was handed (table_type 0, vrf_id '', is_withdraw false);
  // a reader sees the same message either way.
  const read = (b: Buffer) => Req.toObject(Req.decode(b), { enums: String, defaults: true, bytes: String });
  assert.deepEqual(read(lean), read(ref));
  assert.ok(lean.length < ref.length);
  const back = read(lean) as any;
  assert.equal(back.paths.length, 4);
  assert.deepEqual(back.paths[2].family, { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' });
  assert.equal(back.paths[1].is_withdraw, true);
  assert.equal(back.paths[0].is_withdraw, false);
  assert.deepEqual(encodeAddPathStreamRequest([]), Buffer.alloc(0));
});

test('IPAddressPrefix: packed by hand as protobufjs packs it, read back, and malformed values refused', () => {
  const T = root.lookupType('apipb.IPAddressPrefix');
  for (const [prefix, len] of [['10.0.0.1', 32], ['2001:db8::1', 128], ['0.0.0.0', 0], ['192.168.0.0', 16]] as const) {
    const a = packIpAddressPrefix(prefix, len);
    assert.equal(a.type_url, 'type.googleapis.com/apipb.IPAddressPrefix');
    assert.equal(Buffer.from(a.value).toString('hex'), Buffer.from(T.encode(T.fromObject({ prefix_len: len, prefix })).finish()).toString('hex'));
    assert.deepEqual(readIpAddressPrefix(a.value), { prefix_len: len, prefix });
  }
  assert.throws(() => readIpAddressPrefix(Buffer.from([0x12, 0x05, 0x31])), /WatchEvent: field length past the end/);
});
