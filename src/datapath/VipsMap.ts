// The vips map: the VIPs the datapath answers ICMP echo for, kept to the
// VIPs some programmed rule serves (counted per rule). A courtesy: a full
// map must not stop rule programming, so a VIP that does not fit is only
// reported.
import type { Logger } from 'pino';
import type { NativeLbDatapath } from '../util/nativeAddon.ts';
import { encodeVipKey } from './layout.ts';

/** The part of the native datapath the vips map needs. */
export type VipsMapNative = Pick<NativeLbDatapath, 'mapDelete' | 'mapUpdate' | 'mapUpdateBatch'>;

export class VipsMap {
  /** VIP -> how many programmed rules serve it. */
  private readonly refs = new Map<string, number>();
  /** VIPs in the vips map. */
  private readonly installed = new Set<string>();
  private readonly unanswered = new Set<string>();
  private lastUnanswered = 0;

  constructor(
    private readonly dp: VipsMapNative,
    private readonly log: Pick<Logger, 'warn'>,
  ) {}

  ref(v: string, touched: Set<string>): void {
    this.refs.set(v, (this.refs.get(v) ?? 0) + 1);
    touched.add(v);
  }

  unref(v: string, touched: Set<string>): void {
    const n = (this.refs.get(v) ?? 0) - 1;
    if (n > 0) this.refs.set(v, n);
    else this.refs.delete(v);
    touched.add(v);
  }

  /** Brings the touched VIPs' entries in line with their counts. */
  sync(touched: Iterable<string>): void {
    const add: string[] = [];
    for (const v of touched) {
      const wanted = this.refs.has(v);
      if (wanted === this.installed.has(v)) continue;
      if (wanted) {
        add.push(v);
        continue;
      }
      try {
        this.dp.mapDelete('vips', encodeVipKey(v));
      } catch {
        // Already gone.
      }
      this.installed.delete(v);
    }
    if (add.length > 0) {
      const one = Buffer.alloc(4);
      one.writeUInt32LE(1);
      try {
        this.dp.mapUpdateBatch('vips', Buffer.concat(add.map(encodeVipKey)), Buffer.concat(add.map(() => one)));
        for (const v of add) this.installed.add(v);
      } catch {
        for (const v of add) {
          try {
            this.dp.mapUpdate('vips', encodeVipKey(v), one);
            this.installed.add(v);
          } catch {
            this.unanswered.add(v);
          }
        }
      }
    }
    for (const v of this.unanswered) if (!this.refs.has(v) || this.installed.has(v)) this.unanswered.delete(v);
    if (this.unanswered.size > 0 && this.unanswered.size !== this.lastUnanswered) {
      this.log.warn({ vips: this.unanswered.size }, 'the vips map is full: these VIPs do not answer ping');
    }
    this.lastUnanswered = this.unanswered.size;
  }
}
