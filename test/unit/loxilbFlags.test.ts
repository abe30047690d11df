import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlagError, isLoopbackApi, parseLoxilbFlags } from '../../src/cli/loxilbFlags.ts';

test('defaults match loxilb, with the gobgpd API on loopback', () => {
  const f = parseLoxilbFlags([]);
  assert.equal(f.host, '0.0.0.0');
  assert.equal(f.port, 11111);
  assert.equal(f.configPath, '/etc/loxilb/');
  assert.equal(f.gobgpApi, '127.0.0.1:50051');
  assert.equal(f.bgp, false);
  assert.ok(isLoopbackApi(f.gobgpApi));
});

test('short and long forms, = and separate values, env HOST/PORT', () => {
  const f = parseLoxilbFlags(['-b', '--host', '127.0.0.1', '--port=12000', '--config-path=/tmp/x', '--gobgp-api', '[::1]:50051'], {});
  assert.equal(f.bgp, true);
  assert.equal(f.host, '127.0.0.1');
  assert.equal(f.port, 12000);
  assert.equal(f.gobgpApi, '[::1]:50051');
  assert.ok(isLoopbackApi(f.gobgpApi));
  const e = parseLoxilbFlags([], { HOST: '10.0.0.1', PORT: '8080' });
  assert.equal(e.host, '10.0.0.1');
  assert.equal(e.port, 8080);
});

test('--peer implies --bgp', () => {
  const f = parseLoxilbFlags(['-r']);
  assert.equal(f.peer, true);
  assert.equal(f.bgp, true);
});

test('unimplemented loxilb flags are refused by name', () => {
  for (const a of ['--tls', '--prometheus', '--database-host=x']) {
    assert.throws(() => parseLoxilbFlags([a]), (e: Error) => e instanceof FlagError && /not implemented in loxilb-ts yet/.test(e.message), a);
  }
});

test('datapath flags: --blacklist, --whitelist, --egr-hooks', () => {
  const f = parseLoxilbFlags(['--blacklist=cni[0-9a-z]|veth.', '--egr-hooks']);
  assert.equal(f.egrHooks, true);
  assert.ok(f.blacklist?.test('veth0'));
  assert.ok(!f.blacklist?.test('eth0'));
  assert.equal(f.whitelist, undefined);
  assert.equal(parseLoxilbFlags(['--whitelist=none']).whitelist, undefined);
  assert.ok(parseLoxilbFlags(['--whitelist', '^eth[01]$']).whitelist?.test('eth1'));
  assert.throws(() => parseLoxilbFlags(['--blacklist=veth(']), (e: Error) => e instanceof FlagError && /--blacklist must be a regular expression/.test(e.message));
});

test('sync flags: TLS needs all three files, --sync-udp', () => {
  const f = parseLoxilbFlags(['--sync-tls-ca=/etc/hostname', '--sync-tls-cert=/etc/hostname', '--sync-tls-key=/etc/hostname', '--sync-udp']);
  assert.deepEqual(f.syncTls, { ca: '/etc/hostname', cert: '/etc/hostname', key: '/etc/hostname' });
  assert.equal(f.syncUdp, true);
  assert.equal(parseLoxilbFlags([]).syncTls, undefined);
  assert.throws(() => parseLoxilbFlags(['--sync-tls-ca=/etc/hostname']), (e: Error) => e instanceof FlagError && /missing --sync-tls-cert, --sync-tls-key/.test(e.message));
  assert.throws(
    () => parseLoxilbFlags(['--sync-tls-ca=/nonexistent.pem', '--sync-tls-cert=/etc/hostname', '--sync-tls-key=/etc/hostname']),
    (e: Error) => e instanceof FlagError && /--sync-tls-ca must name a readable PEM file/.test(e.message),
  );
});

test('HA flags: --ka with every part, --cluster, --self, priority, preempt, hook', () => {
  const f = parseLoxilbFlags(['--ka=192.168.80.12:192.168.80.11:50000:5', '--cluster=192.168.80.12,[fd00::12]', '--self=1', '--ha-priority=200', '--ha-preempt', '--ha-hook=/bin/true', '--ha-init-wait=1500']);
  assert.deepEqual(f.ka, { remoteIp: '192.168.80.12', sourceIp: '192.168.80.11', intervalUs: 50000, multiplier: 5 });
  assert.deepEqual(f.cluster, ['192.168.80.12', 'fd00::12']);
  assert.equal(f.self, 1);
  assert.equal(f.haPriority, 200);
  assert.equal(f.haPreempt, true);
  assert.equal(f.haHook, '/bin/true');
  assert.equal(f.haInitWaitMs, 1500);
  const d = parseLoxilbFlags(['-k', '[fd00::2]', '--ka=none']);
  assert.equal(d.ka, undefined, '--ka=none (loxilb default) means no session');
  assert.deepEqual(parseLoxilbFlags(['-k', '[fd00::2]']).ka, { remoteIp: 'fd00::2', sourceIp: undefined, intervalUs: 100000, multiplier: 3 });
  const bad: [string[], RegExp][] = [
    [['--ka=1.1.1.1:2.2.2.2:5000'], /--ka=.*IntervalUs must be an integer of at least 10000/],
    [['--ka=1.1.1.1:fd00::1'], /--ka=/],
    [['--ka=1.1.1.1:2.2.2.2:100000:0'], /Multiplier must be an integer from 1 to 255/],
    [['--cluster=1.1.1.1,nope'], /--cluster must be peer IP addresses/],
    [['--self=-1'], /--self must be an integer from 0 to 255/],
    [['--ha-priority=0'], /--ha-priority must be an integer from 1 to 255/],
    [['--ha-priority=256'], /--ha-priority/],
    [['--ha-hook=/nonexistent/hook.sh'], /--ha-hook must name an executable file/],
    [['--ha-preempt=maybe'], /--ha-preempt is a switch/],
  ];
  for (const [argv, re] of bad) assert.throws(() => parseLoxilbFlags(argv), (e: Error) => e instanceof FlagError && re.test(e.message), argv.join(' '));
});

test('unknown flags and bad values name the flag', () => {
  const cases: [string[], RegExp][] = [
    [['--bogus'], /unknown flag --bogus/],
    [['--port=0'], /--port/],
    [['--port', 'x'], /--port/],
    [['--host=nothost'], /--host/],
    [['--loglevel=loud'], /--loglevel must be one of/],
    [['--gobgp-api=localhost'], /--gobgp-api/],
    [['--bgp=yes'], /--bgp is a switch/],
    [['--host'], /--host needs a value/],
    [['stray'], /unexpected argument/],
  ];
  for (const [argv, re] of cases) assert.throws(() => parseLoxilbFlags(argv), (e: Error) => e instanceof FlagError && re.test(e.message), argv.join(' '));
});

test('non-loopback gobgpd API is detected', () => {
  assert.equal(isLoopbackApi('0.0.0.0:50051'), false);
  assert.equal(isLoopbackApi('10.0.0.1:50051'), false);
});
