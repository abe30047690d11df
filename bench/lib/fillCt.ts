// Fills a running agent's connection table from outside the agent: loads a
// second copy of the datapath in the agent's network namespace with the same
// --bpf-pin-dir and --ct-max, so it adopts the agent's pinned table, gives
// that copy the bench rule (ctInstall trusts only services it has a rule
// for), installs `n` established TCP connections starting at key `start`,
// and exits without close() (close would unpin the agent's table).
//
//   ip netns exec <ns> node --import <abs>/node_modules/tsx/dist/loader.mjs \
//     bench/lib/fillCt.ts --pin-dir <dir> --ct-max 2097152 --start 0 --n 100000
//
// Prints one JSON line: { installed, ms }.
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Datapath } from '../../src/datapath/Datapath.ts';
import { CT_KEY, CT_KEY_SIZE, CT_VAL_SIZE, encodeCt } from '../../src/datapath/layout.ts';
import { ruleKey, type LbRule } from '../../src/lb/LbRule.ts';

export const FILL_RULE: LbRule = {
  serviceArguments: { externalIP: '20.20.20.1', port: 80, protocol: 'tcp', sel: 0, mode: 2, bgp: false, monitor: false, block: 0 },
  endpoints: [{ endpointIP: '192.168.80.21', targetPort: 8080, weight: 1 }],
  secondaryIPs: [],
  allowedSources: [],
};

/** n original-direction entries of FILL_RULE's service; entry i's client is 10.x.y.z:(1024 + i>>24). */
function entries(start: number, n: number): { keys: Buffer; values: Buffer } {
  const svc = { vip: '20.20.20.1', port: 80, proto: 'tcp' as const };
  const t = encodeCt({ saddr: '10.0.0.0', daddr: svc.vip, sport: 1024, dport: 80, proto: 'tcp', xsaddr: svc.vip, xdaddr: '192.168.80.21', xsport: 20000, xdport: 8080, svc, ruleId: 0, dir: 0, state: 2, epIdx: 0, flags: 0, timeoutS: 3600 });
  const keys = Buffer.alloc(n * CT_KEY_SIZE);
  const values = Buffer.alloc(n * CT_VAL_SIZE);
  for (let j = 0; j < n; j++) {
    const id = start + j;
    const k = j * CT_KEY_SIZE;
    t.key.copy(keys, k);
    keys.writeUInt32BE((0x0a000000 | (id & 0xffffff)) >>> 0, k + CT_KEY.saddr);
    keys.writeUInt16BE(1024 + (id >>> 24), k + CT_KEY.sport);
    t.value.copy(values, j * CT_VAL_SIZE);
  }
  return { keys, values };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values: a } = parseArgs({ options: { 'pin-dir': { type: 'string' }, 'ct-max': { type: 'string' }, start: { type: 'string' }, n: { type: 'string' } }, strict: true });
  const dp = Datapath.open({ pinDir: a['pin-dir']!, ctMax: Number(a['ct-max']) }, pino({ level: 'warn' }));
  if (!dp.pin.adopted) {
    console.error(`did not adopt the agent's table: ${JSON.stringify(dp.pin)}`);
    process.exit(1);
  }
  dp.program([[ruleKey(FILL_RULE.serviceArguments), FILL_RULE]], { alive: () => true, instanceVip: () => undefined, localAddresses: () => [], onLink: () => true });
  const start = Number(a.start ?? '0');
  const n = Number(a.n ?? '0');
  const t0 = performance.now();
  let installed = 0;
  for (let i = 0; i < n; i += 65536) {
    const e = entries(start + i, Math.min(65536, n - i));
    installed += dp.installConnections(e.keys, e.values).installed;
  }
  console.log(JSON.stringify({ installed, ms: Math.round(performance.now() - t0) }));
  process.exit(0);
}
