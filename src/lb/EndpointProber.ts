// Liveness of the endpoints of rules with `monitor: true`. Each distinct probe
// (type, address, port, request, expected response) runs once however many
// rules share it. An endpoint goes down after `probeRetries` (default 2)
// failures in a row and up again on the first success; until its first
// result it counts as up, so a new rule is advertised at once.
import { EventEmitter } from 'node:events';
import dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import type { Logger } from '../util/logger.ts';
import { tcpConnect } from '../util/tcpConnect.ts';
import type { Endpoint, LbRule, ProbeType } from './LbRule.ts';
import { SctpProber, type SctpProbeResult } from './SctpProber.ts';
import { repeatEvery, systemClock, type Clock, type RepeatingTimer } from '../util/clock.ts';
import { hostPort, ipFamily } from '../util/ipAddress.ts';

const DEFAULT_PERIOD_S = 60;
const DEFAULT_RETRIES = 2;

interface ProbeSpec {
  type: ProbeType;
  ip: string;
  port: number;
  req: string;
  resp: string;
  periodMs: number;
  retries: number;
}

interface ProbeState {
  spec: ProbeSpec;
  up: boolean;
  failures: number;
  timer: RepeatingTimer;
  inFlight: boolean;
}

function probeTypeFor(rule: LbRule): ProbeType {
  const sa = rule.serviceArguments;
  if (sa.probetype) return sa.probetype;
  switch (sa.protocol) {
    case 'udp':
      return 'udp';
    case 'icmp':
      return 'ping';
    case 'sctp':
      return 'sctp';
    default:
      return 'tcp';
  }
}

function specFor(rule: LbRule, ep: Endpoint): ProbeSpec {
  const sa = rule.serviceArguments;
  return {
    type: probeTypeFor(rule),
    ip: ep.endpointIP,
    port: sa.probeport || ep.targetPort,
    req: sa.probereq ?? '',
    resp: sa.proberesp ?? '',
    // loxilb uses probeTimeout as the probe period.
    periodMs: (sa.probeTimeout || DEFAULT_PERIOD_S) * 1000,
    retries: sa.probeRetries || DEFAULT_RETRIES,
  };
}

function keyOf(s: ProbeSpec): string {
  return `${s.type}|${s.ip}|${s.port}|${s.req}|${s.resp}|${s.periodMs}|${s.retries}`;
}

export type ProbeFn = (spec: ProbeSpec, timeoutMs: number) => Promise<boolean>;

export class EndpointProber extends EventEmitter {
  private probes = new Map<string, ProbeState>();

  constructor(
    private readonly log: Logger,
    private readonly probe: ProbeFn = runProbe,
    /** Probe periods run on it. */
    private readonly clock: Clock = systemClock,
  ) {
    super();
  }

  /** Starts probes for monitored rules' endpoints and stops the ones no rule needs any more. */
  sync(rules: Iterable<LbRule>): void {
    const wanted = new Map<string, ProbeSpec>();
    for (const rule of rules) {
      if (!rule.serviceArguments.monitor) continue;
      for (const ep of rule.endpoints) {
        const s = specFor(rule, ep);
        wanted.set(keyOf(s), s);
      }
    }
    for (const [k, st] of this.probes) {
      if (!wanted.has(k)) {
        st.timer.stop();
        this.probes.delete(k);
      }
    }
    for (const [k, spec] of wanted) {
      if (this.probes.has(k)) continue;
      const st: ProbeState = { spec, up: true, failures: 0, inFlight: false, timer: repeatEvery(this.clock, spec.periodMs, () => void this.runOne(st), { unref: true }) };
      this.probes.set(k, st);
      this.runOne(st);
    }
  }

  close(): void {
    for (const st of this.probes.values()) st.timer.stop();
    this.probes.clear();
  }

  endpointUp(rule: LbRule, ep: Endpoint): boolean {
    return this.probes.get(keyOf(specFor(rule, ep)))?.up ?? true;
  }

  /** A rule is alive unless it is monitored and none of its endpoints answers. */
  ruleAlive(rule: LbRule): boolean {
    if (!rule.serviceArguments.monitor || rule.endpoints.length === 0) return true;
    return rule.endpoints.some((ep) => this.endpointUp(rule, ep));
  }

  endpointState(rule: LbRule, ep: Endpoint): string {
    if (!rule.serviceArguments.monitor) return '-';
    return this.endpointUp(rule, ep) ? 'active' : 'inactive';
  }

  private async runOne(st: ProbeState): Promise<void> {
    if (st.inFlight) return;
    st.inFlight = true;
    let ok = false;
    try {
      ok = await this.probe(st.spec, Math.min(2000, st.spec.periodMs));
    } catch {
      ok = false;
    } finally {
      st.inFlight = false;
    }
    if (!this.probes.has(keyOf(st.spec))) return;
    const was = st.up;
    if (ok) {
      st.failures = 0;
      st.up = true;
    } else if (++st.failures >= st.spec.retries) {
      st.up = false;
    }
    if (was !== st.up) {
      this.log.info({ endpoint: `${st.spec.ip}:${st.spec.port}`, probe: st.spec.type, up: st.up }, 'endpoint liveness changed');
      this.emit('change');
    }
  }
}

/** What runProbe asks about an SCTP endpoint; SctpProber.probe. */
export type SctpProbeFn = (ip: string, port: number, timeoutMs: number) => Promise<SctpProbeResult>;

let sharedSctpProber: SctpProber | undefined;

/** The process's SCTP prober: one raw socket per family for all probes, closed when idle. */
function sharedSctpProbe(ip: string, port: number, timeoutMs: number): Promise<SctpProbeResult> {
  sharedSctpProber ??= new SctpProber();
  return sharedSctpProber.probe(ip, port, timeoutMs);
}

export async function runProbe(spec: ProbeSpec, timeoutMs: number, sctpProbe: SctpProbeFn = sharedSctpProbe): Promise<boolean> {
  switch (spec.type) {
    case 'none':
      return true;
    case 'tcp':
      return (await tcpConnect(spec.ip, spec.port, timeoutMs)) === 'connected';
    case 'http':
    case 'https':
      return httpProbe(spec, timeoutMs);
    case 'udp':
      return udpProbe(spec, timeoutMs);
    case 'ping':
      return new Promise((resolve) =>
        execFile('ping', ['-n', '-c', '1', '-W', String(Math.max(1, Math.ceil(timeoutMs / 1000))), spec.ip], (err) => resolve(!err)),
      );
    case 'sctp':
      // INIT ACK: up; ABORT or silence: down (SctpProber).
      return (await sctpProbe(spec.ip, spec.port, timeoutMs)).up;
  }
}

async function httpProbe(spec: ProbeSpec, timeoutMs: number): Promise<boolean> {
  const pathPart = spec.req ? (spec.req.startsWith('/') ? spec.req : `/${spec.req}`) : '/';
  try {
    const res = await fetch(`${spec.type}://${hostPort(spec.ip, spec.port)}${pathPart}`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text();
    if (res.status < 200 || res.status >= 400) return false;
    return spec.resp ? body.includes(spec.resp) : true;
  } catch {
    return false;
  }
}

function udpProbe(spec: ProbeSpec, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(ipFamily(spec.ip) === 6 ? 'udp6' : 'udp4');
    let settled = false;
    const done = (v: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      sock.close();
      resolve(v);
    };
    // No ICMP port-unreachable within the timeout: presumed alive.
    const t = setTimeout(() => done(!spec.resp), timeoutMs);
    sock.on('error', () => done(false));
    sock.on('message', (m) => done(spec.resp ? m.toString().includes(spec.resp) : true));
    sock.connect(spec.port, spec.ip, () => sock.send(Buffer.from(spec.req || 'loxilb-probe'), (err) => err && done(false)));
  });
}
