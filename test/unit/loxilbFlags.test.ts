import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FlagError, isLoopbackApi, loadApiSecurity, parseLoxilbFlags } from '../../src/cli/loxilbFlags.ts';
import { CT_MAX_CEILING, CT_MAX_FLOOR, connectionTablePin, defaultCtMax } from '../../src/datapath/Datapath.ts';

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

/**
 * Every flag of loxilb's options/options.go (the long names, as loxilb
 * declares them), with a value where the flag takes one.
 */
const LOXILB_FLAGS: [string, string | null][] = [
  ['bgp', null], ['ka', 'none'], ['version', null], ['api', null], ['nonlp', null], ['host', '0.0.0.0'], ['port', '11111'],
  ['tls', null], ['tls-host', '0.0.0.0'], ['tls-port', '8091'], ['tls-certificate', '/opt/loxilb/cert/server.crt'], ['tls-key', '/opt/loxilb/cert/server.key'],
  ['cluster', 'none'], ['self', '0'], ['loglevel', 'debug'], ['log-max-size', '50'], ['log-max-backups', '4'], ['log-max-age', '28'], ['log-no-compress', null],
  ['cpuprofile', 'none'], ['prometheus', null], ['disable-crc32', null], ['passive-probe', null], ['rss-enable', null], ['egr-hooks', null], ['peer', null],
  ['blacklist', 'none'], ['rpc', 'netrpc'], ['k8s-api', 'none'], ['ipvs-compat', null], ['fallback', null], ['localsockpolicy', null], ['sockmapsupport', null],
  ['cloud', 'on-prem'], ['cloudcidrblock', ''], ['cloudinstance', ''], ['config-path', '/etc/loxilb/'], ['proxyonlymode', null], ['whitelist', 'none'],
  ['clusterinterface', ''], ['userservice', null], ['databasehost', '127.0.0.1'], ['databaseport', '3306'], ['databaseuser', 'root'],
  ['databasepasswordpath', '/etc/loxilb/mysql_password'], ['databasename', 'loxilb_db'], ['manualtoken', null], ['manualtokenvalue', '/etc/loxilb/manual_token'],
  ['oauth2', null], ['oauth2provider', 'google'], ['oauth2google-clientid', ''], ['oauth2google-clientsecret', ''], ['oauth2google-redirecturl', ''],
  ['oauth2github-clientid', ''], ['oauth2github-clientsecret', ''], ['oauth2github-redirecturl', ''],
];

test('every loxilb flag is accepted; given at loxilb\'s default value, none warns', () => {
  for (const [name, value] of LOXILB_FLAGS) {
    if (name === 'version') continue;
    const arg = value === null ? `--${name}` : `--${name}=${value}`;
    const f = parseLoxilbFlags([arg]);
    if (value !== null) assert.deepEqual(f.notInEffect, [], arg);
  }
  // kube-loxilb's manifests and loxilb's defaults, as a pod would get them.
  const f = parseLoxilbFlags(['--rpc=netrpc', '--cloud=on-prem', '--k8s-api=none', '--cpuprofile=none', '--fallback', '--clusterinterface=', '--egr-hooks']);
  assert.deepEqual(f.notInEffect, []);
  assert.equal(f.egrHooks, true);
});

test('a loxilb flag loxilb-ts does not act on gives one line naming what it does not do', () => {
  const f = parseLoxilbFlags(['--localsockpolicy', '--ipvs-compat', '--clusterinterface=eth1', '--fallback', '-p', '--tls-port=9443', '--cloud=aws', '--manualtoken', '--log-max-size=10']);
  assert.deepEqual(
    f.notInEffect.map((l) => l.split(':')[0]),
    ['--clusterinterface', '--log-max-size', '--ipvs-compat', '--localsockpolicy', '--cloud', '--manualtoken', '--tls-port'],
  );
  assert.equal(f.prometheus, true, '-p serves metrics');
  assert.match(f.notInEffect.find((l) => l.startsWith('--localsockpolicy'))!, /own processes to a VIP are not balanced/);
  assert.match(f.notInEffect.find((l) => l.startsWith('--manualtoken'))!, /use --api-token-file/);
  assert.match(f.notInEffect.find((l) => l.startsWith('--tls-port'))!, /no HTTPS listener without --tls/);
  // Short switches in a run, an explicit false asks for nothing.
  assert.deepEqual(parseLoxilbFlags(['-pan']).notInEffect.map((l) => l.split(':')[0]), ['--api', '--nonlp']);
  // As loxilb, --peer forces --prometheus off, and says so.
  const peer = parseLoxilbFlags(['--peer', '--prometheus']);
  assert.equal(peer.prometheus, false);
  assert.match(peer.notInEffect.join('\n'), /--prometheus: --peer \(BGP only\) serves no metrics/);
  assert.deepEqual(parseLoxilbFlags(['--ipvs-compat=false']).notInEffect, []);
});

test('inert flags are still checked as loxilb checks them', () => {
  for (const [arg, re] of [
    ['--rpc=http', /--rpc must be netrpc or grpc/],
    ['--tls-port=https', /--tls-port must be an integer from 1 to 65535/],
    ['--log-max-age=-1', /--log-max-age must be a number of days/],
    ['--oauth2provider=facebook', /--oauth2provider must be google and\/or github/],
    ['--tls=yes', /--tls is a switch/],
    ['--cloud', /--cloud needs a value/],
    ['--database-host=x', /unknown flag --database-host/],
  ] as [string, RegExp][]) {
    assert.throws(() => parseLoxilbFlags([arg]), (e: Error) => e instanceof FlagError && re.test(e.message), arg);
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

test('hardening flags: REST limits, CORS origin, BFD key dir and remote limits, config quarantine', () => {
  const d = parseLoxilbFlags(['--config-path=/var/lib/loxilb']);
  assert.deepEqual(d.apiLimits, { maxConnections: 512, maxConnectionsPerClient: 128, maxHeaderBytes: 16384, maxBodyBytes: 1048576, headersTimeoutMs: 10000, requestTimeoutMs: 30000, idleTimeoutMs: 5000 });
  assert.equal(d.corsOrigin, undefined);
  assert.equal(d.bfdKeyDir, '/var/lib/loxilb/bfd-keys');
  assert.deepEqual(d.bfdRemoteLimits, { maxRemoteTxUs: 2_000_000, maxRemoteRxUs: 2_000_000, maxRemoteMult: 16 });
  assert.equal(d.configQuarantine, false);
  const f = parseLoxilbFlags([
    '--api-max-conns=64', '--api-max-conns-per-client=8', '--api-max-header-bytes=4096', '--api-max-body-bytes=65536',
    '--api-header-timeout=2000', '--api-request-timeout=5000', '--api-idle-timeout=1000', '--cors-origin=https://ui.example:8443',
    '--bfd-key-dir=/etc/loxilb/keys', '--bfd-max-remote-tx=1000000', '--bfd-max-remote-rx=3000000', '--bfd-max-remote-mult=5', '--config-quarantine',
  ]);
  assert.deepEqual(f.apiLimits, { maxConnections: 64, maxConnectionsPerClient: 8, maxHeaderBytes: 4096, maxBodyBytes: 65536, headersTimeoutMs: 2000, requestTimeoutMs: 5000, idleTimeoutMs: 1000 });
  assert.equal(f.corsOrigin, 'https://ui.example:8443');
  assert.equal(f.bfdKeyDir, '/etc/loxilb/keys');
  assert.deepEqual(f.bfdRemoteLimits, { maxRemoteTxUs: 1_000_000, maxRemoteRxUs: 3_000_000, maxRemoteMult: 5 });
  assert.equal(f.configQuarantine, true);
  assert.equal(parseLoxilbFlags(['--cors-origin=none']).corsOrigin, undefined);
  const bad: [string, RegExp][] = [
    ['--api-max-conns=0', /--api-max-conns must be an integer from 1/],
    ['--api-max-header-bytes=10', /--api-max-header-bytes must be an integer from 1024/],
    ['--api-idle-timeout=abc', /--api-idle-timeout must be an integer/],
    ['--cors-origin=*', /--cors-origin must be an origin/],
    ['--cors-origin=https://ui.example/', /no path or trailing slash/],
    ['--cors-origin=ftp://ui.example', /--cors-origin must be an origin/],
    ['--bfd-max-remote-tx=500000', /--bfd-max-remote-tx must be an integer from 1000000/],
    ['--bfd-max-remote-mult=256', /--bfd-max-remote-mult must be an integer from 1 to 255/],
    ['--bfd-key-dir=', /--bfd-key-dir must name a directory/],
  ];
  for (const [arg, msg] of bad) assert.throws(() => parseLoxilbFlags([arg]), (e: Error) => e instanceof FlagError && msg.test(e.message), arg);
  assert.throws(() => parseLoxilbFlags(['--api-header-timeout=20000', '--api-request-timeout=10000']), /must be at least --api-header-timeout/);
});

test('--ct-max sizes the connection table (unset, by memory within bounds); --max-rules the rule tables', () => {
  assert.equal(parseLoxilbFlags([]).ctMax, undefined);
  assert.equal(parseLoxilbFlags(['--ct-max=1024']).ctMax, 1024);
  assert.equal(parseLoxilbFlags(['--ct-max', '2000000']).ctMax, 2_000_000);
  for (const bad of ['--ct-max=1023', '--ct-max=16777217', '--ct-max=1e6', '--ct-max=']) {
    assert.throws(() => parseLoxilbFlags([bad]), (e: Error) => e instanceof FlagError && /--ct-max must be an integer from 1024 to 16777216/.test(e.message), bad);
  }
  assert.equal(parseLoxilbFlags([]).maxRules, undefined);
  assert.equal(parseLoxilbFlags(['--max-rules=65536']).maxRules, 65536);
  for (const [bad, re] of [['--max-rules=3000', /--max-rules must be a power of two from 1024 to 65536 \(got 3000\)/], ['--max-rules=512', /--max-rules must be an integer from 1024 to 65536/], ['--max-rules=131072', /from 1024 to 65536/]] as const) {
    assert.throws(() => parseLoxilbFlags([bad]), (e: Error) => e instanceof FlagError && re.test(e.message), bad);
  }
  const GiB = 1024 ** 3;
  assert.equal(defaultCtMax(2 * GiB), CT_MAX_FLOOR, 'a small node still gets the floor');
  assert.equal(defaultCtMax(24 * GiB), Math.floor((24 * GiB * 0.0025) / 200), 'a 24 GiB node: a quarter of a percent of RAM');
  assert.equal(defaultCtMax(4096 * GiB), CT_MAX_CEILING, 'a huge node stops at the ceiling');
});

test('--tls: an HTTPS listener with loxilb\'s defaults, flags over env (TLS, TLS_HOST, TLS_PORT, TLS_CERTIFICATE, TLS_PRIVATE_KEY)', () => {
  assert.equal(parseLoxilbFlags([]).tls, undefined);
  assert.deepEqual(parseLoxilbFlags(['--tls']).tls, { host: '0.0.0.0', port: 8091, certificate: '/opt/loxilb/cert/server.crt', key: '/opt/loxilb/cert/server.key' });
  assert.deepEqual(parseLoxilbFlags(['--tls', '--tls-host=127.0.0.1', '--tls-port', '9443', '--tls-certificate=/c.pem', '--tls-key=/k.pem']).tls, {
    host: '127.0.0.1',
    port: 9443,
    certificate: '/c.pem',
    key: '/k.pem',
  });
  const env = { TLS: 'true', TLS_HOST: '::1', TLS_PORT: '8443', TLS_CERTIFICATE: '/e.crt', TLS_PRIVATE_KEY: '/e.key' };
  assert.deepEqual(parseLoxilbFlags([], env).tls, { host: '::1', port: 8443, certificate: '/e.crt', key: '/e.key' });
  assert.deepEqual(parseLoxilbFlags(['--tls-port=9000'], env).tls?.port, 9000);
  assert.equal(parseLoxilbFlags(['--tls=false'], env).tls, undefined, 'a flag overrides TLS');
  assert.equal(parseLoxilbFlags([], { TLS: '0' }).tls, undefined);
  // Without --tls the --tls-* flags open nothing (as loxilb), and say so unless at their default.
  const off = parseLoxilbFlags(['--tls-port=8091', '--tls-key=/other.key']);
  assert.equal(off.tls, undefined);
  assert.deepEqual(off.notInEffect, ['--tls-key: no HTTPS listener without --tls']);
});

test('--tls, --api-token-file, --peer-api-ca: errors name the flag and what is allowed', () => {
  for (const [args, env, re] of [
    [['--tls', '--tls-port=0'], {}, /--tls-port must be an integer from 1 to 65535 \(got "0"\)/],
    [['--tls', '--tls-port=70000'], {}, /--tls-port must be an integer from 1 to 65535/],
    [['--tls', '--tls-host=localhost'], {}, /--tls-host must be an IP address to listen on \(got "localhost"\)/],
    [['--tls', '--tls-certificate='], {}, /--tls-certificate must name a PEM file/],
    [['--tls', '--tls-key='], {}, /--tls-key must name a PEM file/],
    [['--tls', '--tls-port=11111'], {}, /--tls-port \(11111\) must differ from --port/],
    [['--tls'], { TLS: 'yes' }, /environment variable TLS must be true or false \(got "yes"\)/],
    [['--api-token-file='], {}, /--api-token-file must name a file holding the API token/],
    [['--api-token-file'], {}, /--api-token-file needs a value/],
    [['--peer-api-ca=/ca.pem'], {}, /--peer-api-ca needs --tls/],
  ] as [string[], Record<string, string>, RegExp][]) {
    assert.throws(() => parseLoxilbFlags(args, env), (e: Error) => e instanceof FlagError && re.test(e.message), `${args.join(' ')} ${JSON.stringify(env)}`);
  }
  // Different addresses may share a port.
  assert.equal(parseLoxilbFlags(['--host=127.0.0.1', '--tls', '--tls-host=10.0.0.1', '--tls-port=11111']).tls?.port, 11111);
  const f = parseLoxilbFlags(['--tls', '--api-token-file=/run/secrets/token', '--peer-api-ca=/ca.pem']);
  assert.equal(f.apiTokenFile, '/run/secrets/token');
  assert.equal(f.peerApiCa, '/ca.pem');
  assert.deepEqual(f.notInEffect, []);
});

describe('loadApiSecurity reads the files before the agent starts', () => {
  let dir: string;
  const file = (name: string) => path.join(dir, name);
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lxt-apisec-'));
    for (const n of ['a', 'b']) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${n}`, '-keyout', file(`${n}.key`), '-out', file(`${n}.crt`)], { stdio: 'ignore' });
    }
    writeFileSync(file('token'), '  0123456789abcdef0123456789abcdef\n');
    writeFileSync(file('empty'), ' \n\n');
    writeFileSync(file('short'), 'abc\n');
    writeFileSync(file('spaced'), 'abcdefgh ijklmnopqrst\n');
    writeFileSync(file('huge'), 'x'.repeat(5000));
    writeFileSync(file('notpem'), 'hello\n');
    symlinkSync(file('token'), file('token-link'));
    execFileSync('mkfifo', [file('fifo')]);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const load = (args: string[]) => loadApiSecurity(parseLoxilbFlags(args));
  const refused = (args: string[], re: RegExp) => assert.throws(() => load(args), (e: Error) => e instanceof FlagError && re.test(e.message), args.join(' '));

  it('certificate, key, token (trimmed; through a symbolic link, as Kubernetes mounts Secrets) and peer CA', () => {
    const m = load(['--tls', `--tls-certificate=${file('a.crt')}`, `--tls-key=${file('a.key')}`, `--api-token-file=${file('token-link')}`, `--peer-api-ca=${file('b.crt')}`]);
    assert.equal(m.token, '0123456789abcdef0123456789abcdef');
    assert.equal(m.tls?.port, 8091);
    assert.match(m.tls!.cert.toString(), /BEGIN CERTIFICATE/);
    assert.match(m.tls!.key.toString(), /PRIVATE KEY/);
    assert.match(m.peerCa!.toString(), /BEGIN CERTIFICATE/);
    assert.deepEqual(load([]), {});
  });

  it('unreadable, empty, short, oversized and non-PEM files and a key that is not the certificate\'s are refused, naming the flag and the path', () => {
    refused(['--tls', `--tls-certificate=${file('none.crt')}`, `--tls-key=${file('a.key')}`], new RegExp(`flag --tls-certificate: "${file('none.crt')}" cannot be read \\(no such file\\)`));
    refused(['--tls', `--tls-certificate=${file('a.crt')}`, `--tls-key=${file('none.key')}`], /flag --tls-key: ".*none\.key" cannot be read \(no such file\)/);
    refused(['--tls', `--tls-certificate=${file('a.crt')}`, `--tls-key=${dir}`], /flag --tls-key: ".*" (is not a regular file|cannot be read \(is a directory\))/);
    refused(['--tls', `--tls-certificate=${file('notpem')}`, `--tls-key=${file('a.key')}`], /flag --tls-certificate: ".*notpem" is not a PEM file/);
    refused(['--tls', `--tls-certificate=${file('a.crt')}`, `--tls-key=${file('b.key')}`], /flags --tls-certificate ".*a\.crt" and --tls-key ".*b\.key" are not a usable certificate and key/);
    refused(['--tls'], /flag --tls-certificate: "\/opt\/loxilb\/cert\/server\.crt" cannot be read/);
    refused([`--api-token-file=${file('empty')}`], /flag --api-token-file: ".*empty" is empty: it must hold the API token/);
    refused([`--api-token-file=${file('short')}`], /holds a token of 3 characters; at least 16 are needed/);
    refused([`--api-token-file=${file('spaced')}`], /must hold one token of visible ASCII characters/);
    refused([`--api-token-file=${file('huge')}`], /is larger than 4096 bytes/);
    refused([`--api-token-file=${file('fifo')}`], /flag --api-token-file: ".*fifo" is not a regular file/);
    refused([`--api-token-file=${file('none')}`], /flag --api-token-file: ".*none" cannot be read \(no such file\)/);
    refused(['--tls', `--tls-certificate=${file('a.crt')}`, `--tls-key=${file('a.key')}`, `--peer-api-ca=${file('a.key')}`], /flag --peer-api-ca: ".*a\.key" holds no certificate/);
  });
});

test('--bpf-pin-dir: default the host bpffs, none turns pinning off, anything but an absolute path is refused', () => {
  assert.equal(parseLoxilbFlags([]).bpfPinDir, '/sys/fs/bpf/loxilb-ts');
  assert.equal(parseLoxilbFlags(['--bpf-pin-dir=none']).bpfPinDir, '');
  assert.equal(parseLoxilbFlags(['--bpf-pin-dir', '/run/bpf/lb']).bpfPinDir, '/run/bpf/lb');
  for (const bad of ['relative/dir', '/sys/fs/bpf/../etc', '']) {
    assert.throws(() => parseLoxilbFlags([`--bpf-pin-dir=${bad}`]), (e: Error) => e instanceof FlagError && /--bpf-pin-dir must be an absolute path/.test(e.message), bad);
  }
});

test('connectionTablePin: a directory that is not on a bpffs is refused with the reason, nothing made', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lxt-nopin-'));
  try {
    const r = connectionTablePin(path.join(dir, 'pins'));
    assert.equal(r.path, undefined);
    assert.match(r.reason ?? '', /is not on a bpffs/);
    assert.equal(existsSync(path.join(dir, 'pins')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
