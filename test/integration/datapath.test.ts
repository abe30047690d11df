// The eBPF datapath, end to end in namespaces: a client behind a router, an
// LB node running loxilb (its TC programs on the LB's interfaces) and two
// endpoints with small HTTP/UDP servers. Every assertion is about what the
// endpoints and the client actually saw.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatapathLab, DP, type Reply } from '../lab/DatapathLab.ts';
import { LOXILB_BIN } from '../lab/BgpLab.ts';
import { waitFor } from '../lab/wait.ts';

const VIP_HTTP = `${DP.vip}:80`;

function rule(over: Record<string, unknown> = {}, endpoints: string[] = [DP.ep1, DP.ep2], port: number = DP.httpPort) {
  return {
    serviceArguments: { externalIP: DP.vip, port: 80, protocol: 'tcp', sel: 0, mode: 0, name: 'web', ...over },
    endpoints: endpoints.map((ip) => ({ endpointIP: ip, targetPort: port, weight: 1 })),
  };
}

function names(replies: Reply[]): string[] {
  return replies.map((r) => r.name ?? `error:${r.error}`);
}

describe('eBPF datapath (client, two LB nodes, two HTTP/UDP endpoints)', { timeout: 180_000 }, () => {
  let t: DatapathLab;

  before(async () => {
    t = await DatapathLab.create({ lbs: ['lb1', 'lb2'] });
  });
  after(async () => {
    await t?.destroy();
  });

  it('attaches to the LB interfaces and reports it in /status', async () => {
    const st = await t.mustApi('lb1', 'GET', '/status');
    assert.deepEqual(st.datapath.interfaces, ['eth0']);
    assert.equal(st.datapath.egress, false);
    // The default tables: 16,384 rules, 65,536 address/port entries.
    assert.equal(st.datapath.ruleCapacity, 16384);
    assert.equal(st.datapath.serviceEntryCapacity, 65536);
    assert.match(await t.lab.run('lb1', ['tc', 'filter', 'show', 'dev', 'eth0', 'ingress']), /bpf.*lb_ingress.*direct-action/);
  });

  it('attaches to interfaces that appear later, and leaves blacklisted ones alone', async () => {
    await t.lab.run('lb1', ['ip', 'link', 'add', 'dpnew0', 'type', 'veth', 'peer', 'name', 'cni0x']);
    await waitFor(async () => (await t.mustApi('lb1', 'GET', '/status')).datapath.interfaces.includes('dpnew0'), { timeoutMs: 5_000, what: 'dpnew0 attached' });
    await t.lab.run('lb1', ['ip', 'link', 'del', 'dpnew0']);
    await waitFor(async () => !(await t.mustApi('lb1', 'GET', '/status')).datapath.interfaces.includes('dpnew0'), { timeoutMs: 5_000, what: 'dpnew0 forgotten' });
  });

  it('refuses to start without root, naming what is missing', async () => {
    const r = await t.lab.exec('lb1', ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', LOXILB_BIN, '--config-path=/tmp/lxt-nonroot', '--port=11999'], { timeoutMs: 30_000 });
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /eBPF datapath needs root/);
  });

  it('default mode: round robin over both endpoints, the client source address kept', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule());
    const replies = await t.requests('http', VIP_HTTP, 6);
    assert.deepEqual(names(replies), ['ep1', 'ep2', 'ep1', 'ep2', 'ep1', 'ep2']);
    for (const r of replies) assert.equal(r.remote, DP.client, 'DNAT keeps the client address');
  });

  it('the second LB node balances the same way once the routes point at it', async () => {
    await t.mustApi('lb2', 'POST', '/config/loadbalancer', rule());
    await t.setVipRoute('lb2');
    try {
      const replies = await t.requests('http', VIP_HTTP, 4);
      assert.deepEqual(names(replies), ['ep1', 'ep2', 'ep1', 'ep2']);
      for (const r of replies) assert.equal(r.remote, DP.client);
      const st = await t.mustApi('lb2', 'GET', '/status');
      assert.ok(st.datapath.stats.ctNew >= 4);
    } finally {
      await t.setVipRoute('lb1');
    }
  });

  it('shows the connections in GET /config/conntrack/all and loxicmd get ct', async () => {
    const ct = (await t.mustApi('lb1', 'GET', '/config/conntrack/all')).ctAttr as {
      destinationIP: string;
      sourceIP: string;
      protocol: string;
      conntrackState: string;
      conntrackAct: string;
      servName: string;
      packets: number;
    }[];
    const fromClient = ct.filter((e) => e.sourceIP === DP.client && e.destinationIP === DP.vip);
    assert.ok(fromClient.length >= 6, `client connections in the table: ${JSON.stringify(ct)}`);
    for (const e of fromClient) {
      assert.equal(e.protocol, 'tcp');
      assert.equal(e.servName, 'web');
      assert.match(e.conntrackAct, /^dnat-192\.168\.80\.2[12]:8080$/);
      assert.ok(e.packets >= 3);
      // Connection: close, so both sides have sent FIN by now.
      assert.ok(['closed', 'fin-wait', 'est'].includes(e.conntrackState), e.conntrackState);
    }
    const table = await t.loxicmd('lb1', 'get', 'ct');
    assert.match(table, /\| *DESTIP *\| *SRCIP *\| *DPORT *\| *SPORT *\| *PROTO *\| *STATE *\| *ACT *\| *PACKETS *\| *BYTES *\|/);
    assert.match(table, new RegExp(`\\| *${DP.vip.replace(/\./g, '\\.')} *\\| *${DP.client.replace(/\./g, '\\.')} *\\| *80 *\\|`));
  });

  it('a client port reused after a close is a new connection, balanced afresh', async () => {
    const before = (await t.mustApi('lb1', 'GET', '/status')).datapath.stats.ctReused as number;
    // Same client port every time: without reuse handling every request would stick to one endpoint.
    const replies = await t.requests('http', VIP_HTTP, 4, 2000, 41000);
    assert.deepEqual(new Set(names(replies)), new Set(['ep1', 'ep2']), names(replies).join());
    for (const r of replies) assert.equal(r.remotePort, 41000);
    const after = (await t.mustApi('lb1', 'GET', '/status')).datapath.stats.ctReused as number;
    assert.ok(after - before >= 3, `ctReused ${before} -> ${after}`);
  });

  it('idle connections leave the table as pairs after inactiveTimeOut; busy ones stay', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: DP.vip, port: 71, protocol: 'tcp', sel: 0, mode: 0, name: 'idle', inactiveTimeOut: 2 },
      endpoints: [DP.ep1, DP.ep2].map((ip) => ({ endpointIP: ip, targetPort: DP.streamPort, weight: 1 })),
    });
    const script = `const net=require('net');
      const busy=net.connect(71,'${DP.vip}',()=>{setInterval(()=>busy.write('b\\n'),300)});busy.on('data',()=>{});
      const idle=net.connect(71,'${DP.vip}',()=>idle.write('i\\n'));idle.on('data',()=>{});
      setTimeout(()=>process.exit(0),5000);`;
    const p = t.lab.spawn('client', process.execPath, ['-e', script], { logName: 'client.idle' });
    type Ct = { servName: string; sourceIP: string; destinationIP: string; conntrackState: string }[];
    const idleEntries = async () => ((await t.mustApi('lb1', 'GET', '/config/conntrack/all')).ctAttr as Ct).filter((e) => e.servName === 'idle' && e.conntrackState === 'est');
    await waitFor(async () => (await idleEntries()).length === 4, { timeoutMs: 5_000, what: 'two connections, both directions' });
    await new Promise((r) => setTimeout(r, 3500));
    const left = await idleEntries();
    assert.equal(left.length, 2, `only the busy connection is left, both directions: ${JSON.stringify(left)}`);
    assert.deepEqual(left.map((e) => e.sourceIP === DP.client ? 'orig' : 'reply').sort(), ['orig', 'reply']);
    await p.exited;
  });

  it('fullnat: the endpoints see the rule VIP, then the instance vip once cistate sets one', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule({ mode: 2 }));
    let replies = await t.requests('http', VIP_HTTP, 4);
    assert.deepEqual(new Set(names(replies)), new Set(['ep1', 'ep2']));
    for (const r of replies) assert.equal(r.remote, DP.vip);
    assert.equal(new Set(replies.map((r) => r.remotePort)).size, 4, 'each connection gets its own source port');

    // kube-loxilb --setRoles: the floating service address replaces the VIP as the source.
    await t.mustApi('lb1', 'POST', '/config/cistate', { instance: 'llb-inst0', state: 'MASTER', vip: '20.20.20.254' });
    replies = await t.requests('http', VIP_HTTP, 2);
    for (const r of replies) assert.equal(r.remote, '20.20.20.254');
  });

  it('onearm: the endpoints see the LB interface address', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule({ mode: 1 }));
    const replies = await t.requests('http', VIP_HTTP, 4);
    assert.deepEqual(new Set(names(replies)), new Set(['ep1', 'ep2']));
    for (const r of replies) {
      assert.equal(r.remote, DP.lb1);
      assert.ok((r.remotePort ?? 0) >= 61000, 'onearm ports stay above the kernel ephemeral range');
    }
  });

  it('UDP: datagrams reach both endpoints and the replies come back from the VIP', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: DP.vip, port: 90, protocol: 'udp', sel: 0, mode: 0, name: 'dns' },
      endpoints: [DP.ep1, DP.ep2].map((ip) => ({ endpointIP: ip, targetPort: DP.udpPort, weight: 1 })),
    });
    const replies = await t.requests('udp', `${DP.vip}:90`, 4);
    assert.deepEqual(names(replies), ['ep1', 'ep2', 'ep1', 'ep2']);
    for (const r of replies) assert.equal(r.remote, DP.client);
  });

  it('hash keeps one tuple on one endpoint, where rr would alternate', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule({ sel: 1 }));
    const same = names(await t.requests('http', VIP_HTTP, 4, 2000, 42000));
    assert.equal(new Set(same).size, 1, `one tuple, one endpoint: ${same}`);
    const spread = names(await t.requests('http', VIP_HTTP, 12));
    assert.deepEqual(new Set(spread), new Set(['ep1', 'ep2']), `new tuples spread: ${spread}`);
  });

  it('persist keeps a client on one endpoint; priority follows the weights', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule({ sel: 3 }));
    const sticky = await t.requests('http', VIP_HTTP, 6);
    assert.equal(new Set(names(sticky)).size, 1, `persist: ${names(sticky)}`);

    const weighted = rule({ sel: 2 });
    weighted.endpoints[0]!.weight = 90;
    weighted.endpoints[1]!.weight = 10;
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', weighted);
    const replies = names(await t.requests('http', VIP_HTTP, 30));
    const ep1 = replies.filter((n) => n === 'ep1').length;
    assert.ok(ep1 >= 20, `weights 90/10 sent ${ep1} of 30 to ep1`);
    assert.equal(replies.filter((n) => n.startsWith('error')).length, 0);
  });

  it('lc sends new connections to the endpoint with fewer open ones', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule({ sel: 4 }, [DP.ep1, DP.ep2], DP.streamPort));
    // Hold three connections open; lc spreads them 2/1 or 1/2, then balances.
    const holder = t.lab.spawn('client', process.execPath, [
      '-e',
      `const net=require('net');const out=[];let n=0;
       for(let i=0;i<3;i++){const s=net.connect(80,'${DP.vip}',()=>s.write('hi\\n'));s.on('data',d=>{out.push(d.toString().split(' ')[0]);if(++n===3)console.log(JSON.stringify(out));});}
       setInterval(()=>{},1000);`,
    ], { output: 'pipe' });
    try {
      const held: string[] = await new Promise((resolve, reject) => {
        let buf = '';
        holder.child.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0]!) as string[]);
        });
        setTimeout(() => reject(new Error('holder got no replies')), 10_000);
      });
      const c1 = held.filter((n) => n === 'ep1').length;
      assert.ok(c1 === 1 || c1 === 2, `held ${held}`);
      const fewer = c1 === 1 ? 'ep1' : 'ep2';
      // The next connection must go to the endpoint holding fewer.
      const next = await t.lab.run('client', [
        process.execPath,
        '-e',
        `const s=require('net').connect(80,'${DP.vip}',()=>s.write('x\\n'));s.on('data',d=>{console.log(d.toString().split(' ')[0]);process.exit(0)});`,
      ]);
      assert.equal(next.trim(), fewer);
    } finally {
      await holder.stop();
    }
  });

  it('a monitored endpoint that dies leaves the rotation, and comes back', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule({ monitor: true, probetype: 'tcp', probeport: DP.httpPort, probeTimeout: 1, probeRetries: 1 }));
    await t.stopEcho('ep2');
    try {
      await waitFor(
        async () => {
          const lb = (await t.mustApi('lb1', 'GET', '/config/loadbalancer/all')).lbAttr as { endpoints: { endpointIP: string; state: string }[] }[];
          return lb[0]?.endpoints.find((e) => e.endpointIP === DP.ep2)?.state === 'inactive';
        },
        { timeoutMs: 15_000, what: 'ep2 to be probed inactive' },
      );
      const replies = await t.requests('http', VIP_HTTP, 6);
      assert.deepEqual(names(replies), ['ep1', 'ep1', 'ep1', 'ep1', 'ep1', 'ep1']);
      const wide = await t.loxicmd('lb1', 'get', 'lb', '-o', 'wide');
      assert.match(wide, /192\.168\.80\.22 *\| *8080 *\| *1 *\| *inactive/);
    } finally {
      await t.startEcho('ep2');
    }
    await waitFor(async () => new Set(names(await t.requests('http', VIP_HTTP, 4))).size === 2, {
      timeoutMs: 15_000,
      what: 'ep2 back in rotation',
    });
  });

  it('a flow follows a changed neighbour within the FIB cache time (100 ms): forwarding answers are reused, never kept', async () => {
    // One UDP flow (one socket) to a rule with ep1 only, a datagram every 10 ms. Mid-flow ep1 gets a new MAC
    // and lb1's neighbour entry is replaced (what a gratuitous ARP does): the datapath's cached FIB answer
    // still names the old MAC, and must be dropped within its 100 ms.
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: DP.vip, port: 91, protocol: 'udp', sel: 0, mode: 0, name: 'neigh' },
      endpoints: [{ endpointIP: DP.ep1, targetPort: DP.udpPort, weight: 1 }],
    });
    const oldMac = (await t.lab.run('ep1', ['cat', '/sys/class/net/eth0/address'])).trim();
    const newMac = '02:00:00:00:21:99';
    const script = `const s=require('dgram').createSocket('udp4');const t0=Date.now();let last=0,gap=0,n=0,after=0;
      s.on('message',()=>{const now=Date.now()-t0;if(last&&now>1000&&now-last>gap)gap=now-last;last=now;n++;if(now>1500)after++;});
      const iv=setInterval(()=>s.send('x',91,'${DP.vip}'),10);
      setTimeout(()=>{clearInterval(iv);setTimeout(()=>{console.log(JSON.stringify({n,gap,after}));process.exit(0)},200)},3000);`;
    const flow = t.lab.exec('client', [process.execPath, '-e', script], { timeoutMs: 15_000 });
    await new Promise((r) => setTimeout(r, 1200));
    try {
      await t.lab.run('ep1', ['ip', 'link', 'set', 'dev', 'eth0', 'address', newMac]);
      await t.lab.run('lb1', ['ip', 'neigh', 'replace', DP.ep1, 'lladdr', newMac, 'dev', 'eth0', 'nud', 'reachable']);
      const r = JSON.parse((await flow).stdout.trim()) as { n: number; gap: number; after: number };
      assert.ok(r.n > 100, `the flow was answered (${r.n} replies)`);
      assert.ok(r.after > 50, `and kept being answered after the change (${r.after} replies in its last 1.5 s)`);
      // 100 ms of cache and 10 ms between datagrams; generous for a busy machine, far from "never".
      assert.ok(r.gap < 1000, `the longest silence after the change was ${r.gap} ms`);
    } finally {
      await t.lab.run('ep1', ['ip', 'link', 'set', 'dev', 'eth0', 'address', oldMac]);
      await t.lab.exec('lb1', ['ip', 'neigh', 'del', DP.ep1, 'dev', 'eth0'], { check: false });
    }
  });

  it('the VIP answers ping: the LB node replies from the VIP, which is on none of its interfaces', async () => {
    const addrs = await t.lab.run('lb1', ['ip', '-o', 'addr', 'show']);
    assert.ok(!addrs.includes(`${DP.vip}/`), 'the VIP is not a local address of lb1');
    const before = (await t.mustApi('lb1', 'GET', '/status')).datapath.stats.icmpEcho;
    const out = await t.lab.run('client', ['ping', '-c', '3', '-i', '0.2', '-W', '1', DP.vip]);
    assert.match(out, new RegExp(`3 packets transmitted, 3 received`));
    assert.match(out, new RegExp(`bytes from ${DP.vip.replaceAll('.', '\\.')}: icmp_seq=1 ttl=63`), 'the reply comes from the VIP, one router hop away');
    const after = (await t.mustApi('lb1', 'GET', '/status')).datapath.stats.icmpEcho;
    assert.equal(after - before, 3, 'lb1 answered all three');
  });

  it('a rule delete stops the traffic to the VIP, and its ping', async () => {
    await t.mustApi('lb1', 'DELETE', '/config/loadbalancer/externalipaddress/20.20.20.1/port/80/protocol/tcp');
    const replies = await t.requests('http', VIP_HTTP, 2, 1000);
    for (const r of replies) assert.ok(r.error, `no reply after the delete: ${JSON.stringify(r)}`);
    const st = await t.mustApi('lb1', 'GET', '/status');
    assert.ok(st.datapath.stats.redirected > 0);
    // While any rule serves the VIP it answers ping; once the last one goes, it does not.
    const pong = await t.lab.run('client', ['ping', '-c', '1', '-W', '1', DP.vip]);
    assert.match(pong, / 1 received/, 'the UDP rule still serves the VIP');
    await t.mustApi('lb1', 'DELETE', '/config/loadbalancer/all');
    const ping = await t.lab.exec('client', ['ping', '-c', '2', '-i', '0.2', '-W', '1', DP.vip], { check: false });
    assert.match(ping.stdout, / 0 received/);
    assert.equal((await t.mustApi('lb1', 'GET', '/status')).datapath.stats.icmpEcho, st.datapath.stats.icmpEcho + 1);
  });
});
