// Datapath capacity is bounded, and a node at its bounds says so instead of
// black-holing: the connection table is the size --ct-max asks for and, once
// full, new connections are dropped, counted and reported in /status; the
// rule tables are the size --max-rules asks for (rules, and four times as
// many address/port entries), every rule up to the bound is programmed, and
// the rule past either bound gets a 403 naming it (nothing of it
// half-applied), never a 200 for traffic that is then dropped. (The default,
// 16,384 rules, is checked in datapath.test.ts; 10,000 rules go through the
// datapath in `npm run bench`.)
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Lab, type LabProcess } from '../lab/Lab.ts';
import { agentApi, mustAgentApi, startAgentProcess } from '../lab/agentProcess.ts';
import { waitFor } from '../lab/wait.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const POST_RULES = path.join(ROOT, 'bench/lib/postRules.ts');

const LB = '192.168.80.10';
/** postRules.ts balances every rule to this address (onearm). */
const EP = '192.168.80.30';
const CLIENT = '192.168.80.40';
const VIP = '20.20.20.1';
const CT_MAX = 1024;
const MAX_RULES = 2048;
const MAX_SERVICE_ENTRIES = 4 * MAX_RULES;

interface PostResult {
  ms: number;
  ok: number;
  failed: number;
  firstError?: string;
}

describe('datapath capacity: bounded, and said when reached', { timeout: 300_000 }, () => {
  let lab: Lab;
  let agent: LabProcess;
  const status = async () => (await mustAgentApi(lab, 'lb', 'GET', '/status')) as Record<string, any>;
  /** Nothing degraded but the full connection table of the first test (reported for a minute after its last drop). */
  const onlyTableFull = (st: Record<string, any>) => ((st.degraded ?? []) as string[]).filter((d) => !d.startsWith('connection table full'));

  /** Posts n rules (VIPs 10.210.x.y) from inside the LB's namespace, 32 in flight. */
  async function postRules(n: number, portSpan = 1): Promise<PostResult> {
    const r = await lab.exec(
      'lb',
      [process.execPath, '--import', TSX, POST_RULES, '--base', '210', '--start', '0', '--n', String(n), '--concurrency', '32', '--port-span', String(portSpan)],
      { timeoutMs: 240_000 },
    );
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    try {
      return JSON.parse(line) as PostResult;
    } catch {
      throw new Error(`postRules printed no result (exit ${r.code}): ${r.stdout.slice(-300)} ${r.stderr.slice(-500)}`);
    }
  }

  async function deleteAll(): Promise<void> {
    await mustAgentApi(lab, 'lb', 'DELETE', '/config/loadbalancer/all');
    await waitFor(async () => (await status()).rules === 0, { timeoutMs: 30_000, what: 'every rule deleted' });
  }

  before(async () => {
    await Lab.cleanupStale();
    lab = await Lab.create();
    await lab.addSwitch('sw');
    await lab.addNode('lb', { switch: 'sw', ipv4: `${LB}/24` });
    await lab.addNode('ep', { switch: 'sw', ipv4: `${EP}/24` });
    await lab.addNode('client', { switch: 'sw', ipv4: `${CLIENT}/24` });
    await lab.run('client', ['ip', 'route', 'add', `${VIP}/32`, 'via', LB]);
    agent = await startAgentProcess(lab, 'lb', ['--host=0.0.0.0', `--ct-max=${CT_MAX}`, `--max-rules=${MAX_RULES}`]);
  });

  after(async () => {
    await lab?.destroy();
  });

  it('the connection table holds what --ct-max says; a full table drops new connections, counts them and degrades /status', async () => {
    const before = await status();
    assert.equal(before.datapath.connectionCapacity, CT_MAX);
    assert.equal(before.datapath.ruleCapacity, MAX_RULES);
    assert.equal(before.datapath.serviceEntryCapacity, MAX_SERVICE_ENTRIES);
    assert.equal(before.status, 'ok');
    await mustAgentApi(lab, 'lb', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: VIP, port: 5000, protocol: 'udp', name: 'fill', inactiveTimeOut: 600 },
      endpoints: [{ endpointIP: EP, targetPort: 5000, weight: 1 }],
    });
    // 600 UDP flows from distinct source ports: each takes two entries, so 512 fill the table.
    const flows = 600;
    const script = `
      const dgram = require('node:dgram');
      let left = ${flows};
      for (let i = 0; i < ${flows}; i++) {
        const s = dgram.createSocket('udp4');
        s.send('x', 5000, '${VIP}', () => { s.close(); if (--left === 0) process.exit(0); });
      }`;
    const r = await lab.exec('client', [process.execPath, '-e', script], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    const full = await waitFor(
      async () => {
        const st = await status();
        return st.datapath.stats.ctFull > 0 ? st : undefined;
      },
      { timeoutMs: 10_000, what: 'ctFull counted' },
    );
    assert.ok(full.datapath.connections <= CT_MAX, `${full.datapath.connections} entries in a table of ${CT_MAX}`);
    assert.ok(full.datapath.connections >= CT_MAX - 2, `the table filled before refusing (${full.datapath.connections} of ${CT_MAX})`);
    const { ctNew, ctFull } = full.datapath.stats;
    assert.equal(ctNew + ctFull, flows, `every flow is either new (${ctNew}) or dropped for a full table (${ctFull})`);
    assert.ok(ctNew >= CT_MAX / 2 - 1, `${ctNew} flows got both their entries`);
    assert.equal(full.status, 'degraded');
    assert.ok(
      full.degraded.some((d: string) => /connection table full/.test(d) && d.includes(`of ${CT_MAX}`) && d.includes('--ct-max')),
      `degraded names the full table: ${JSON.stringify(full.degraded)}`,
    );
    await deleteAll();
  });

  it(`${MAX_SERVICE_ENTRIES.toLocaleString('en-US')} address/port entries: rules of 256 ports fill them, one port more is refused`, async () => {
    const perRule = 256;
    const n = MAX_SERVICE_ENTRIES / perRule;
    const res = await postRules(n, perRule);
    assert.equal(res.ok, n, JSON.stringify(res));
    let st = await status();
    assert.equal(st.rulesNotProgrammed, 0);
    assert.equal(st.rules, n);
    const over = await agentApi(lab, 'lb', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: '20.20.20.2', port: 80, protocol: 'tcp', name: 'one-more' },
      endpoints: [{ endpointIP: EP, targetPort: 8080, weight: 1 }],
    });
    assert.equal(over.status, 403);
    assert.match(JSON.stringify(over.body), new RegExp(`at most ${MAX_SERVICE_ENTRIES} address/port entries`));
    st = await status();
    assert.equal(st.rules, n, 'the refused rule left nothing behind');
    assert.deepEqual(onlyTableFull(st), []);
    await deleteAll();
  });

  it(`${MAX_RULES.toLocaleString('en-US')} rules are carried and programmed; the next is refused with 403, and fits again once one goes`, async () => {
    const res = await postRules(MAX_RULES);
    assert.equal(res.ok, MAX_RULES, JSON.stringify(res));
    process.stderr.write(`# ${MAX_RULES} rules posted in ${res.ms.toFixed(0)} ms\n`);
    let st = await status();
    assert.equal(st.rules, MAX_RULES);
    assert.equal(st.rulesNotProgrammed, 0);
    assert.deepEqual(onlyTableFull(st), []);
    const extra = {
      serviceArguments: { externalIP: '20.20.20.3', port: 80, protocol: 'tcp', name: 'extra' },
      endpoints: [{ endpointIP: EP, targetPort: 8080, weight: 1 }],
    };
    const over = await agentApi(lab, 'lb', 'POST', '/config/loadbalancer', extra);
    assert.equal(over.status, 403);
    assert.match(JSON.stringify(over.body), new RegExp(`lbrule capacity: the datapath holds at most ${MAX_RULES} rules \\(--max-rules\\)`));
    const list = (await mustAgentApi(lab, 'lb', 'GET', '/config/loadbalancer/all')) as { lbAttr: { serviceArguments: { externalIP: string }; programmed?: boolean }[] };
    assert.equal(list.lbAttr.length, MAX_RULES);
    assert.ok(!list.lbAttr.some((r) => r.serviceArguments.externalIP === '20.20.20.3'), 'the refused rule is not listed');
    assert.ok(list.lbAttr.every((r) => r.programmed !== false), 'every accepted rule is in the datapath');
    // Room again after one goes.
    await mustAgentApi(lab, 'lb', 'DELETE', '/config/loadbalancer/externalipaddress/10.210.0.0/port/80/protocol/tcp');
    await mustAgentApi(lab, 'lb', 'POST', '/config/loadbalancer', extra);
    st = await status();
    assert.equal(st.rules, MAX_RULES);
    assert.equal(st.rulesNotProgrammed, 0);
    assert.ok(agent.alive());
  });
});
