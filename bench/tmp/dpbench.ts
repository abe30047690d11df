import pino from 'pino';
import { Datapath } from '../../src/datapath/Datapath.ts';
import { ruleKey, type LbRule } from '../../src/lb/LbRule.ts';
const log = pino({ level: 'warn' });
const dp = Datapath.open({}, log);
const ctx = { alive: () => true, instanceVip: () => undefined, localAddresses: () => [], onLink: () => true };
const rules: [string, LbRule][] = [];
for (let i = 0; i < 10000; i++) {
  const r: LbRule = { serviceArguments: { externalIP: `10.200.${i >> 8}.${i & 255}`, port: 80, protocol: 'tcp', sel: 0, mode: 1, bgp: true, monitor: false, block: 0, name: `bench_svc${i}:llb-inst0` }, endpoints: [{ endpointIP: '192.168.80.30', targetPort: 8080, weight: 1 }], secondaryIPs: [], allowedSources: [] };
  rules.push([ruleKey(r.serviceArguments), r]);
}
let t0 = performance.now();
for (let i = 0; i < rules.length; i += 48) dp.program(rules.slice(i, i + 48), ctx);
console.log('10k in passes of 48:', (performance.now() - t0).toFixed(0), 'ms');
t0 = performance.now();
dp.program(rules.map(([k]) => [k, undefined] as const), ctx);
console.log('delete all in one pass:', (performance.now() - t0).toFixed(0), 'ms');
t0 = performance.now();
dp.program(rules, ctx);
console.log('10k in one pass:', (performance.now() - t0).toFixed(0), 'ms');
dp.close();
