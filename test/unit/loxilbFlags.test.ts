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
  for (const a of ['--ka=1.1.1.1:2.2.2.2', '--cluster=1.1.1.1', '--egr-hooks', '--blacklist=veth.', '-k', '--database-host=x']) {
    assert.throws(() => parseLoxilbFlags([a]), (e: Error) => e instanceof FlagError && /not implemented in loxilb-ts yet/.test(e.message), a);
  }
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
