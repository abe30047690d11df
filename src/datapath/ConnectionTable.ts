// The connection table (the ct map): the in-kernel sweep of idle
// connections, the flush of connections whose service or endpoint went,
// its count, and raw reads and writes for the API and connection sync.
import type { Logger } from 'pino';
import type { CtInstallResult, NativeLbDatapath, NativeMapDump } from '../util/nativeAddon.ts';
import { errorMessage } from '../util/errors.ts';
import { CT_KEY_SIZE, CT_VAL, CT_VAL_SIZE, LB_KEY_SIZE, decodeCt, type CtEntry } from './layout.ts';

/** The part of the native datapath the connection table needs. */
export type ConnectionTableNative = Pick<NativeLbDatapath, 'mapDump' | 'mapDeleteBatch' | 'ctSweep' | 'ctCount' | 'ctInstall'>;

export class ConnectionTable {
  constructor(
    private readonly dp: ConnectionTableNative,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
  ) {}

  /**
   * Deletes connections of services that are gone (lb_rules key hex ->
   * undefined) or that go to an endpoint ("addr:port") not in the set.
   */
  flush(svcs: Map<string, Set<string> | undefined>): void {
    const d = this.dp.mapDump('ct');
    const doomed: Buffer[] = [];
    for (let i = 0; i < d.count; i++) {
      const at = i * CT_VAL_SIZE + CT_VAL.svc;
      const svcHex = d.values.subarray(at, at + LB_KEY_SIZE).toString('hex');
      if (!svcs.has(svcHex)) continue;
      const keep = svcs.get(svcHex);
      if (keep) {
        const e = decodeCt(d.keys, d.values, i);
        if (!e) continue;
        const ep = e.dir === 0 ? `${e.xdaddr}:${e.xdport}` : `${e.saddr}:${e.sport}`;
        if (keep.has(ep)) continue;
      }
      doomed.push(d.keys.subarray(i * CT_KEY_SIZE, (i + 1) * CT_KEY_SIZE));
    }
    if (doomed.length > 0) {
      const n = this.dp.mapDeleteBatch('ct', Buffer.concat(doomed));
      this.log.info({ connections: n }, 'flushed connections of removed services or endpoints');
    }
  }

  /** Deletes idle connections (in the kernel, one pass); returns how many entries went. */
  sweep(): number {
    try {
      return this.dp.ctSweep().count;
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'conntrack sweep failed');
      return 0;
    }
  }

  /** Entries in the table, counted in the kernel without copying them. */
  count(): number {
    return this.dp.ctCount();
  }

  dump(): NativeMapDump {
    return this.dp.mapDump('ct');
  }

  entries(): CtEntry[] {
    const d = this.dp.mapDump('ct');
    const out: CtEntry[] = [];
    for (let i = 0; i < d.count; i++) {
      const e = decodeCt(d.keys, d.values, i);
      if (e) out.push(e);
    }
    return out;
  }

  install(keys: Buffer, values: Buffer): CtInstallResult {
    return this.dp.ctInstall(keys, values);
  }

  delete(keys: Buffer): number {
    return this.dp.mapDeleteBatch('ct', keys);
  }
}
