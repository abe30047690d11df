// The node's BFD: the configured sessions (config/bfd, saved in
// bfdconfig.json, and --ka) and the one BFD manager that runs them and the
// BGP neighbours' sessions. The manager starts on first use, so UDP 3784 is
// only bound while sessions are wanted. A changed session is on disk before
// it is answered; a failed save takes the new session out again.
import { isDeepStrictEqual } from 'node:util';
import { BfdManager, type BfdManagerStateChange } from '../bfd/BfdManager.ts';
import type { BfdRemoteLimits } from '../bfd/BfdSession.ts';
import type { NativeBfdTransport } from '../bfd/NativeBfdTransport.ts';
import { createBfdTransport } from '../bfd/createBfdTransport.ts';
import { bfdDiagName, type BfdState } from '../bfd/BfdPacket.ts';
import { completeBfdSession, type BfdSessionPost, type BfdSessionSpec } from '../bfd/validateBfdConfig.ts';
import type { BfdSessionInfo, BfdStatus } from '../api/AgentApi.ts';
import { bfdSessionList, bfdStatusOf } from '../api/stateViews.ts';
import { bfdKey } from '../ha/HaNode.ts';
import { ConflictError, NotFoundError } from '../util/errors.ts';
import type { Logger } from '../util/logger.ts';

export interface BfdSessionsDeps {
  options?: { keyDir?: string; remoteLimits?: BfdRemoteLimits };
  save(specs: BfdSessionSpec[]): void;
  stateChange(c: BfdManagerStateChange): void;
  /** The peer's own state changed (BfdManager's remoteStateChange). */
  remoteStateChange?(instance: string, remoteIp: string, to: BfdState): void;
  /** A configured session started: an HA peer's drives the election. */
  started(spec: BfdSessionSpec): Promise<void>;
  /** A configured session is deleted. */
  deleted(instance: string, remoteIp: string): void;
  log: Logger;
}

export class BfdSessions {
  private manager?: BfdManager;
  private transport?: NativeBfdTransport;
  private specs = new Map<string, BfdSessionSpec>();
  /** Saved or --ka sessions that could not be started, for /status. */
  private notStarted: BfdStatus['notStarted'] = [];

  constructor(private readonly d: BfdSessionsDeps) {}

  /** The BFD manager if it runs. */
  get current(): BfdManager | undefined {
    return this.manager;
  }

  /** The configured sessions, as bfdconfig.json holds them. */
  get sessionSpecs(): BfdSessionSpec[] {
    return [...this.specs.values()];
  }

  /** Whether a configured session with that peer exists (running or not). */
  has(instance: string, remoteIp: string): boolean {
    return this.specs.has(bfdKey(instance, remoteIp));
  }

  /** The BFD manager, started on first use. */
  async start(): Promise<BfdManager> {
    if (this.manager) return this.manager;
    const transport = createBfdTransport();
    this.transport = transport;
    const o = this.d.options;
    const m = new BfdManager({
      transport,
      logger: this.d.log.child({ part: 'bfd' }),
      keyDir: o?.keyDir,
      ...(o?.remoteLimits ? { remoteLimits: o.remoteLimits } : {}),
    });
    m.on('remoteStateChange', (r) => this.d.remoteStateChange?.(r.instance, r.remoteIp, r.to));
    m.on('stateChange', (c) => {
      this.d.stateChange(c);
      this.d.log.info(
        { instance: c.instance, remoteIp: c.remoteIp, from: c.from, to: c.to, diag: bfdDiagName(c.diag), remoteDiag: bfdDiagName(c.remoteDiag) },
        'BFD session state changed',
      );
    });
    await m.start();
    this.manager = m;
    return m;
  }

  /** Saved sessions come back, and --ka's (a saved one with the same peer wins, as in loxilb); one that cannot is logged and kept on disk. */
  async restore(specs: BfdSessionSpec[], ka: BfdSessionSpec | undefined): Promise<void> {
    for (const spec of specs) this.specs.set(bfdKey(spec.instance, spec.remoteIp), spec);
    const all = ka && !this.specs.has(bfdKey(ka.instance, ka.remoteIp)) ? [...specs, ka] : specs;
    if (all.length === 0) return;
    const m = await this.start();
    for (const spec of all) {
      try {
        await m.addSession(bfdParams(spec));
        this.warnUnauthenticated(spec.remoteIp, spec.auth);
        await this.d.started(spec);
      } catch (err) {
        // Reported, not hung on: the rest of the agent starts, and /status says which session is missing and why.
        this.notStarted.push({ instance: spec.instance, remoteIp: spec.remoteIp, reason: (err as Error).message });
        this.d.log.error({ remoteIp: spec.remoteIp, instance: spec.instance, err: (err as Error).message }, 'BFD session not started');
      }
    }
  }

  async set(post: BfdSessionPost): Promise<void> {
    const m = await this.start();
    const key = bfdKey(post.instance, post.remoteIp);
    const cur = this.specs.get(key);
    // What the post leaves out keeps the saved session's timers.
    const timers = cur && { intervalUs: post.intervalUs ?? cur.intervalUs, multiplier: post.multiplier ?? cur.multiplier };
    // A saved session that could not start (its key file refused) is added afresh.
    if (cur && m.get(post.instance, post.remoteIp)) {
      // loxilb: a re-POST for the instance's session changes its timers (here through a Poll
      // sequence); what it leaves out keeps its value (`loxicmd set bfd` sends sourceIp "").
      const sourceIp = post.sourceIp ?? cur.sourceIp;
      const auth = post.auth ?? cur.auth;
      if (cur.sourceIp !== sourceIp || !isDeepStrictEqual(cur.auth, auth)) {
        throw new ConflictError(`bfd existing session with ${post.remoteIp}: only interval and retryCount can change; delete it first`);
      }
      const spec: BfdSessionSpec = { ...cur, ...timers };
      this.save(new Map(this.specs).set(key, spec));
      m.updateSession(spec.instance, spec.remoteIp, { txIntervalUs: spec.intervalUs, rxIntervalUs: spec.intervalUs, multiplier: spec.multiplier });
      return;
    }
    const elsewhere = [...this.specs.values()].filter((s) => s.remoteIp === post.remoteIp).map((s) => s.instance);
    const spec = completeBfdSession({ ...post, ...timers }, elsewhere.length ? `; the session with ${post.remoteIp} is in instance ${elsewhere.join(', ')}` : '');
    const next = new Map(this.specs).set(key, spec);
    await m.addSession(bfdParams(spec));
    this.warnUnauthenticated(spec.remoteIp, spec.auth);
    try {
      this.save(next);
    } catch (err) {
      await m.deleteSession(spec.instance, spec.remoteIp);
      throw err;
    }
    this.notStarted = this.notStarted.filter((n) => n.instance !== spec.instance || n.remoteIp !== spec.remoteIp);
    await this.d.started(spec);
  }

  async delete(remoteIp: string, instance: string): Promise<void> {
    const key = bfdKey(instance, remoteIp);
    const m = this.manager;
    if (!this.specs.has(key) || !m) throw new NotFoundError(`no bfd session with ${remoteIp} in instance ${instance}`);
    const next = new Map(this.specs);
    next.delete(key);
    this.save(next);
    this.notStarted = this.notStarted.filter((n) => n.instance !== instance || n.remoteIp !== remoteIp);
    this.d.deleted(instance, remoteIp);
    // Sends AdminDown for one detection time, so the peer knows this was on purpose.
    if (m.get(instance, remoteIp)) await m.deleteSession(instance, remoteIp);
  }

  list(purposeOf: (instance: string, remoteIp: string) => BfdSessionInfo['purpose']): BfdSessionInfo[] {
    return bfdSessionList(this.manager?.list() ?? [], purposeOf);
  }

  status(): BfdStatus | undefined {
    const m = this.manager;
    if (!m) return undefined;
    return bfdStatusOf(m.list(), m.stats(), m.rxDropTotals(), this.transport?.stats(), this.notStarted);
  }

  /** Says once per peer that its BFD session can be spoofed from the link. */
  warnUnauthenticated(remoteIp: string, auth: unknown): void {
    if (auth) return;
    this.d.log.warn(
      { remoteIp },
      'BFD session without authentication: anyone on the link can spoof its packets (hold it Up within --bfd-max-remote-*, or bring it Down); set authType and keyFile to close that',
    );
  }

  /** Peers get AdminDown: a planned stop, not a failure. */
  async close(): Promise<void> {
    await this.manager?.close({ graceful: true });
  }

  private save(next: Map<string, BfdSessionSpec>): void {
    this.d.save([...next.values()]);
    this.specs = next;
  }
}

function bfdParams(spec: BfdSessionSpec) {
  return {
    instance: spec.instance,
    remoteIp: spec.remoteIp,
    sourceIp: spec.sourceIp,
    txIntervalUs: spec.intervalUs,
    rxIntervalUs: spec.intervalUs,
    multiplier: spec.multiplier,
    auth: spec.auth,
  };
}
