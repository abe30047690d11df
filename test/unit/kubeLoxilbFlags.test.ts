import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_LOAD_BALANCER_CLASS,
  KubeLoxilbFlagError,
  parseDurationMs,
  parseExtBgpPeers,
  parseKubeLoxilbFlags,
  type KubeLoxilbConfig,
} from '../../src/cli/kubeLoxilbFlags.ts';
import { formatPoolList } from '../../src/ipam/poolSpec.ts';

function fails(argv: string[], re: RegExp, files: Record<string, string> = {}): void {
  assert.throws(
    () => parseKubeLoxilbFlags(argv, { readFile: (p) => { if (!(p in files)) throw new Error('ENOENT: no such file'); return files[p]!; } }),
    (e: Error) => e instanceof KubeLoxilbFlagError && re.test(e.message),
    `${argv.join(' ')} should fail with ${re}`,
  );
}

function withFile(argv: string[], files: Record<string, string>): KubeLoxilbConfig {
  return parseKubeLoxilbFlags(argv, { readFile: (p) => files[p]! });
}

test('defaults follow kube-loxilb', () => {
  const c = parseKubeLoxilbFlags([]);
  assert.deepEqual(c.loxiURLs, [], 'empty means discovery');
  assert.equal(formatPoolList(c.v4Pools), 'defaultPool=123.123.123.1/24');
  assert.equal(formatPoolList(c.v6Pools), 'defaultPool=3ffe:cafe::1/96');
  assert.deepEqual(c.secondaryPools, []);
  assert.equal(c.ipamMode, 'shared');
  assert.equal(c.setBGP, 0);
  assert.equal(c.listenBGPPort, 179);
  assert.equal(c.setRoles, undefined);
  assert.equal(c.setLBMode, 0);
  assert.equal(c.zone, 'llb');
  assert.equal(c.numZoneInstances, 1);
  assert.equal(c.loadBalancerClass, DEFAULT_LOAD_BALANCER_CLASS);
  assert.equal(c.roleHealthPeriodMs, 2000);
  assert.equal(c.loglevel, 'info');
});

test('the documented deployments parse (HA scenarios)', () => {
  const c = parseKubeLoxilbFlags([
    '--setRoles=0.0.0.0',
    '--loxiURL=http://192.168.80.1:11111,http://192.168.80.2:11111',
    '--externalCIDR=123.123.123.1/24',
    '--setLBMode=2',
    '--setBGP=65100',
    '--extBGPPeers=50.50.50.1:65101',
  ]);
  assert.deepEqual(c.loxiURLs, ['http://192.168.80.1:11111', 'http://192.168.80.2:11111']);
  assert.equal(formatPoolList(c.v4Pools), 'defaultPool=123.123.123.1/24');
  assert.equal(c.setRoles, '0.0.0.0');
  assert.equal(c.setLBMode, 2);
  assert.equal(c.setBGP, 65100);
  assert.deepEqual(c.extBGPPeers, [{ ip: '50.50.50.1', asn: 65101 }]);
  // The in-cluster blog deploys with a bare --setRoles.
  const bare = parseKubeLoxilbFlags(['--externalCIDR=123.123.123.1/24', '--setBGP=64512', '--setRoles']);
  assert.equal(bare.setRoles, '0.0.0.0');
  assert.equal(parseKubeLoxilbFlags(['--setRoles', '--monitor']).setRoles, '0.0.0.0');
  assert.equal(parseKubeLoxilbFlags(['--setRoles', '10.0.0.9']).setRoles, '10.0.0.9');
  assert.equal(parseKubeLoxilbFlags(['--setRoles=']).setRoles, undefined);
  const unique = parseKubeLoxilbFlags(['--externalCIDR=192.168.80.5/32', '--setUniqueIP=false', '--setLBMode=1']);
  assert.equal(unique.ipamMode, 'shared');
});

test('both --flag=value and --flag value; pflag booleans', () => {
  const c = parseKubeLoxilbFlags(['--setBGP', '4200000000', '--zone', 'aws', '--monitor', '--setUniqueIP=true', '--eBGPMultiHop=1', '--noZoneName=F']);
  assert.equal(c.setBGP, 4200000000, '4-byte ASN');
  assert.equal(c.zone, 'aws');
  assert.equal(c.monitor, true);
  assert.equal(c.setUniqueIP, true);
  assert.equal(c.ipamMode, 'unique');
  assert.equal(c.eBGPMultiHop, true);
  assert.equal(c.noZoneName, false);
  fails(['--monitor', 'false'], /unexpected argument "false"/);
  fails(['--monitor=yes'], /flag --monitor is a switch/);
});

test('pools: named CIDRs and ranges, IPv6, secondary, and --externalCIDR replacing the default', () => {
  const c = parseKubeLoxilbFlags([
    '--cidrPools=defaultPool=10.0.0.0/24,pool2=10.0.1.10-10.0.1.20',
    '--cidr6Pools=defaultPool=2001:db8::/64,v6b=2001:db8:1::1-2001:db8:1::ff',
    '--externalSecondaryCIDRs=124.124.124.1/24,sec=125.125.125.1/24',
  ]);
  assert.equal(formatPoolList(c.v4Pools), 'defaultPool=10.0.0.0/24,pool2=10.0.1.10-10.0.1.20');
  assert.equal(formatPoolList(c.v6Pools), 'defaultPool=2001:db8::/64,v6b=2001:db8:1::1-2001:db8:1::ff');
  assert.equal(formatPoolList(c.secondaryPools), 'secondary0=124.124.124.1/24,sec=125.125.125.1/24');
  const e = parseKubeLoxilbFlags(['--externalCIDR=192.168.80.200/24', '--externalCIDR6=3ffe::1/96', '--cidrPools=pool2=10.0.1.0/24']);
  assert.equal(formatPoolList(e.v4Pools), 'defaultPool=192.168.80.200/24,pool2=10.0.1.0/24');
  assert.equal(formatPoolList(e.v6Pools), 'defaultPool=3ffe::1/96');
  fails(['--externalCIDR=10.0.0.0/24', '--cidrPools=defaultPool=10.0.1.0/24'], /flag --externalCIDR and flag --cidrPools both define defaultPool/);
  fails(['--externalCIDR=p=10.0.0.0/24'], /takes CIDRs or ranges without names/);
  fails(['--cidrPools=defaultPool=10.0.0.0/24,p2=10.0.0.128/25'], /pools overlap: defaultPool=10.0.0.0\/24 and p2=10.0.0.128\/25/);
  fails(['--externalSecondaryCIDRs=defaultPool=10.9.0.0/24'], /pool name defaultPool is used twice/);
  fails(['--cidr6Pools=defaultPool=10.0.0.0/24'], /flag --cidr6Pools: .*takes IPv6 only/);
  fails(['--externalCIDR=10.0.0.0/33'], /flag --externalCIDR: .*prefix length/);
});

test('--extBGPPeers: IPv4, bracketed IPv6, 4-byte ASNs; needs --setBGP', () => {
  assert.deepEqual(parseExtBgpPeers('50.50.50.1:65101, [2001:db8::1]:4200000001'), [
    { ip: '50.50.50.1', asn: 65101 },
    { ip: '2001:db8::1', asn: 4200000001 },
  ]);
  fails(['--setBGP=65100', '--extBGPPeers=2001:db8::1:65001'], /IPv6 address in brackets/);
  fails(['--setBGP=65100', '--extBGPPeers=50.50.50.1'], /must be IP:ASN/);
  fails(['--setBGP=65100', '--extBGPPeers=50.50.50.1:0'], /AS number from 1 to 4294967295/);
  fails(['--setBGP=65100', '--extBGPPeers=50.50.50.1:4294967296'], /AS number/);
  fails(['--setBGP=65100', '--extBGPPeers=peer:65001'], /does not start with an IP address/);
  fails(['--setBGP=65100', '--extBGPPeers=1.1.1.1:1,1.1.1.1:2'], /listed twice/);
  fails(['--extBGPPeers=50.50.50.1:65101'], /flag --extBGPPeers needs --setBGP/);
});

test('bad values name the flag and the allowed values', () => {
  const cases: [string[], RegExp][] = [
    [['--setBGP=-1'], /flag --setBGP must be an integer from 0 to 4294967295/],
    [['--setBGP=4294967296'], /flag --setBGP/],
    [['--listenBGPPort=0'], /flag --listenBGPPort must be an integer from 1 to 65535/],
    [['--setLBMode=6'], /flag --setLBMode must be an integer from 0 to 5/],
    [['--setLBMode=fullnat'], /flag --setLBMode/],
    [['--setRoles=nope'], /flag --setRoles must be an IP address/],
    [['--loxiURL=10.0.0.1:11111'], /flag --loxiURL must be http\(s\) URLs/],
    [['--loxiURL=ftp://10.0.0.1'], /flag --loxiURL/],
    [['--excludeRoleList=10.0.0.1,bad'], /flag --excludeRoleList must be IP addresses/],
    [['--zone=Not_A_Label'], /flag --zone must be a DNS label/],
    [['--numZoneInstances=0'], /flag --numZoneInstances/],
    [['--privateCIDR=fd00::/64'], /flag --privateCIDR must be an IPv4 CIDR/],
    [['--loadBalancerClass=nodomain'], /flag --loadBalancerClass must be a prefixed name/],
    [['--roleHealthPeriod=5ms'], /flag --roleHealthPeriod must be milliseconds or a Go duration/],
    [['--roleHealthPeriod=2 s'], /flag --roleHealthPeriod/],
    [['--loglevel=loud'], /flag --loglevel must be one of/],
    [['--zone'], /flag --zone needs a value/],
    [['--bogus=1'], /unknown flag --bogus/],
    [['-zone=x'], /unexpected argument/],
    [['--gatewayAPI'], /flag --gatewayAPI is not implemented in loxilb-ts yet/],
  ];
  for (const [argv, re] of cases) fails(argv, re);
  // Options we do not implement are accepted when they are off.
  assert.equal(parseKubeLoxilbFlags(['--appendEPs=false']).monitor, false);
});

test('excludeRoleList, privateCIDR, health period and log level', () => {
  const c = parseKubeLoxilbFlags(['--excludeRoleList=10.0.0.1, fd00::0:1 ,10.0.0.1', '--privateCIDR=10.10.0.1/24', '--roleHealthPeriod=250ms', '--v=4']);
  assert.deepEqual(c.excludeRoleList, ['10.0.0.1', 'fd00::1']);
  assert.equal(c.privateIP, '10.10.0.1');
  assert.equal(c.roleHealthPeriodMs, 250);
  assert.equal(c.loglevel, 'debug', '--v=4 without --loglevel');
  assert.equal(parseKubeLoxilbFlags(['--v=4', '--loglevel=warning']).loglevel, 'warning');
  assert.equal(parseKubeLoxilbFlags(['--roleHealthPeriod=500']).roleHealthPeriodMs, 500);
  fails([`--excludeRoleList=${Array.from({ length: 129 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join(',')}`], /at most 128/);
});

test('Go durations', () => {
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.equal(parseDurationMs('1m30s'), 90000);
  assert.equal(parseDurationMs('750000us'), 750);
  assert.equal(parseDurationMs('100'), 100);
  assert.equal(parseDurationMs('1h'), 3600000);
  for (const bad of ['', 's', '1x', '1s2', '-1s', '1 s']) assert.equal(parseDurationMs(bad), undefined, bad);
});

test('--config YAML is read first with strict keys, then flags override it', () => {
  const yaml = [
    'loxiURL:',
    '  - http://10.0.0.1:11111',
    '  - http://10.0.0.2:11111',
    'cidrPools: defaultPool=10.1.0.0/24,p2=10.2.0.0/24',
    'setBGP: 65001',
    'setExclIPAM: true',
    'setRoles: 0.0.0.0',
    'zone: edge',
    'loxilbLoadBalancerClass: example.com/lb',
    'roleHealthPeriod: 500ms',
    'gatewayAPI: false',
  ].join('\n');
  // The override comes before --config on purpose: position does not matter.
  const c = withFile(['--setBGP=65002', '--config=/etc/kl.yaml'], { '/etc/kl.yaml': yaml });
  assert.deepEqual(c.loxiURLs, ['http://10.0.0.1:11111', 'http://10.0.0.2:11111']);
  assert.equal(formatPoolList(c.v4Pools), 'defaultPool=10.1.0.0/24,p2=10.2.0.0/24');
  assert.equal(c.setBGP, 65002, 'the flag wins');
  assert.equal(c.ipamMode, 'unique', 'setExclIPAM is the YAML key of --setUniqueIP');
  assert.equal(c.setRoles, '0.0.0.0');
  assert.equal(c.zone, 'edge');
  assert.equal(c.loadBalancerClass, 'example.com/lb');
  assert.equal(c.roleHealthPeriodMs, 500);
  assert.equal(c.configFile, '/etc/kl.yaml');
  assert.equal(withFile(['--config', '/empty.yaml'], { '/empty.yaml': '' }).setBGP, 0);

  const f = (text: string) => ({ '/c.yaml': text });
  fails(['--config=/c.yaml'], /key setUniqueIP in \/c.yaml is not a kube-loxilb option \(known keys: loxiURL/, f('setUniqueIP: true'));
  fails(['--config=/c.yaml'], /key setBGP in \/c.yaml must be an integer from 0 to 4294967295/, f('setBGP: lots'));
  fails(['--config=/c.yaml'], /key monitor in \/c.yaml must be true or false/, f('monitor: maybe'));
  fails(['--config=/c.yaml'], /not valid YAML/, f('setBGP: 1\nsetBGP: 2'));
  fails(['--config=/c.yaml'], /must be a YAML mapping/, f('- a\n- b'));
  fails(['--config=/c.yaml'], /key zone in \/c.yaml must be a scalar/, f('zone: {a: 1}'));
  fails(['--config=/c.yaml'], /key enableBGPCRDs in \/c.yaml is not implemented/, f('enableBGPCRDs: true'));
  fails(['--config=/missing.yaml'], /flag --config: cannot read \/missing.yaml/);
  fails(['--config='], /flag --config needs a file path/);
});
