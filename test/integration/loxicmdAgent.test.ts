// loxicmd driving a real agent (--bgp, with its gobgpd and the datapath) in a
// namespace lab with a BIRD router: create -> get -> delete for lb, bfd, bgp
// global, bgp neighbour and ha state, and save -> delete all -> apply -> the
// same state; a bad file changes nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BgpLab, CLUSTER_AS, LB_NODES, LOXICMD_BIN, ROUTER, ROUTER_AS } from '../lab/BgpLab.ts';
import { waitFor } from '../lab/wait.ts';

const [LB1] = LB_NODES as [(typeof LB_NODES)[0]];

describe('loxicmd against a real agent', () => {
  let t: BgpLab;
  let saveDir: string;
  const loxicmd = async (...args: string[]) => {
    const r = await t.lab.exec(LB1.name, [LOXICMD_BIN, ...args], { timeoutMs: 30_000 });
    return { code: r.code, out: r.stdout, err: r.stderr };
  };
  const ok = async (...args: string[]) => {
    const r = await loxicmd(...args);
    assert.equal(r.code, 0, `loxicmd ${args.join(' ')}: ${r.err}`);
    return r.out;
  };

  /** The rules as GET shows them, without what probes and traffic change (endpoint state, counters). */
  const rules = async () =>
    (JSON.parse(await ok('get', 'lb', '-o', 'json')) as { lbAttr: { endpoints: Record<string, unknown>[] }[] }).lbAttr.map((r) => ({
      ...r,
      endpoints: r.endpoints.map(({ state: _s, counter: _c, ...e }) => e),
    }));

  before(async () => {
    t = await BgpLab.create({ lbCount: 1, worker: false });
    saveDir = path.join(t.lab.dir, 'saved');
  });
  after(async () => {
    await t?.destroy();
  });

  it('bgp global and neighbour: create brings the session up with the router, get shows it, delete removes it', async () => {
    assert.equal(await ok('create', 'bgpglobal', `--localAS=${CLUSTER_AS}`, `--routerID=${LB1.ipv4}`, '--setNextHopSelf'), 'Success\n');
    assert.match(await t.gobgp(LB1.name, 'global'), new RegExp(`AS:\\s+${CLUSTER_AS}[\\s\\S]*Router-ID:\\s+${LB1.ipv4.replace(/\./g, '\\.')}`));
    assert.equal(await ok('create', 'bgpneighbor', ROUTER.ipv4, String(ROUTER_AS)), 'Success\n');
    await waitFor(async () => /ESTABLISHED/.test(await ok('get', 'bgpneigh')), { timeoutMs: 30_000, what: 'the session with the router ESTABLISHED' });
    assert.match(await ok('get', 'bgpneigh'), new RegExp(`\\| ${ROUTER.ipv4.replace(/\./g, '\\.')} \\| ${ROUTER_AS} \\|`));
    assert.equal(await ok('delete', 'bgpneighbor', ROUTER.ipv4, String(ROUTER_AS)), 'Success\n');
    assert.doesNotMatch(await ok('get', 'bgpneigh'), new RegExp(ROUTER.ipv4.replace(/\./g, '\\.')));
  });

  it('lb, bfd and ha state: create -> get -> delete', async () => {
    await ok('create', 'lb', '20.20.20.1', '--tcp=2020:8080', '--endpoints=192.168.80.21:1,192.168.80.22:1', '--mode=fullnat', '--name=web');
    assert.match(await ok('get', 'lb'), /\| 20\.20\.20\.1 \| 2020 \| tcp +\| web +\| +0 \| rr +\| fullnat \| +2 \| +0 \| Off +\|/);
    await ok('create', 'bfd', ROUTER.ipv4, `--sourceIP=${LB1.ipv4}`, '--interval=100000', '--retryCount=3');
    assert.match(await ok('get', 'bfd', '-o', 'wide'), /\| llb-inst0 +\| 192\.168\.80\.1 +\| 192\.168\.80\.10 \| 3784 \| 100000 us \| +3 \|/);
    await ok('set', 'ha', '--state=BACKUP');
    assert.match(await ok('get', 'hastate'), /\| llb-inst0 +\| BACKUP +\|/);
    await ok('set', 'ha', '--state=MASTER');
    assert.match(await ok('get', 'hastate'), /\| llb-inst0 +\| MASTER +\|/);
    await ok('delete', 'lb', '20.20.20.1', '--tcp=2020');
    await ok('delete', 'bfd', ROUTER.ipv4);
    assert.doesNotMatch(await ok('get', 'lb'), /20\.20\.20\.1/);
    assert.doesNotMatch(await ok('get', 'bfd'), /192\.168\.80\.1/);
    // The agent's own refusal comes back with its message and exit 1.
    const dup = await loxicmd('delete', 'lb', '20.20.20.1', '--tcp=2020');
    assert.equal(dup.code, 1);
    assert.match(dup.err, /^Error: loxilb API answered HTTP 4\d\d: /);
  });

  it('save -> delete everything -> apply gives back the same rules and sessions; a bad file changes nothing', async () => {
    await ok('create', 'lb', '20.20.20.1', '--tcp=2020:8080', '--endpoints=192.168.80.21:1,192.168.80.22:1', '--mode=fullnat', '--name=web', '--monitor');
    await ok('create', 'lb', '20.20.20.2', '--udp=5000-5010:5000', '--endpoints=192.168.80.23:2', '--select=hash', '--inatimeout=60', '--mark=4');
    await ok('create', 'bfd', ROUTER.ipv4, `--sourceIP=${LB1.ipv4}`, '--interval=200000', '--retryCount=4');
    const lbBefore = await rules();
    const tableBefore = await ok('get', 'lb');
    const bfdBefore = (await ok('get', 'bfd', '-o', 'wide')).replace(/BFD\w+/g, '');
    const saved = await ok('save', '-a', '-c', saveDir);
    assert.match(saved, /LB Configuration saved in .*lbconfig\.txt/);
    assert.match(saved, /BFD Configuration saved in .*BFDconfig\.txt/);

    await ok('delete', 'lb', '20.20.20.1', '--tcp=2020');
    await ok('delete', 'lb', '20.20.20.2', '--udp=5000-5010', '--mark=4');
    await ok('delete', 'bfd', ROUTER.ipv4);
    assert.doesNotMatch(await ok('get', 'lb'), /20\.20\.20/);

    const bad = path.join(t.lab.dir, 'bad.txt');
    const text = JSON.parse(fs.readFileSync(path.join(saveDir, 'lbconfig.txt'), 'utf8'));
    text.lbAttr[1].endpoints[0].weight = 'heavy';
    fs.writeFileSync(bad, JSON.stringify(text));
    const refused = await loxicmd('apply', '-f', bad);
    assert.equal(refused.code, 2);
    assert.match(refused.err, /lbAttr\[1\] \(20\.20\.20\.2 udp 5000\): invalid endpoints\[0\]\.weight/);
    assert.doesNotMatch(await ok('get', 'lb'), /20\.20\.20/);

    await ok('apply', '-l', path.join(saveDir, 'lbconfig.txt'), '--bfd', path.join(saveDir, 'BFDconfig.txt'));
    assert.deepEqual(await rules(), lbBefore);
    assert.equal(await ok('get', 'lb'), tableBefore);
    assert.equal((await ok('get', 'bfd', '-o', 'wide')).replace(/BFD\w+/g, ''), bfdBefore);
  });
});
