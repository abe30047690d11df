// Which rule serves each (match address, port, protocol): the datapath can
// tell rules apart by nothing else, so one service has one rule, and the
// count of entries is what its service map has room for.
import { ApiError, ConflictError } from '../util/errors.ts';
import type { LbRule } from '../lb/LbRule.ts';
import { matchAddresses } from '../datapath/planDatapath.ts';

/** The services a rule serves in the datapath: (match address, port, protocol) for every port of its range. */
export function serviceIds(rule: LbRule): string[] {
  const sa = rule.serviceArguments;
  const pmax = sa.portMax && sa.portMax > sa.port ? sa.portMax : sa.port;
  const out: string[] = [];
  for (const addr of matchAddresses(rule)) for (let p = sa.port; p <= pmax; p++) out.push(`${addr}|${p}|${sa.protocol}`);
  return out;
}

export class ServiceIndex {
  /** Service id -> the key of the rule that serves it. */
  private readonly owners = new Map<string, string>();

  claim(key: string, rule: LbRule): void {
    for (const s of serviceIds(rule)) if (!this.owners.has(s)) this.owners.set(s, key);
  }

  release(key: string, rule: LbRule): void {
    for (const s of serviceIds(rule)) if (this.owners.get(s) === key) this.owners.delete(s);
  }

  /**
   * Refuses a rule (replacing `cur` under `key`) whose services another rule
   * serves, or that the datapath has no room for: `ruleCount` rules now, at
   * most `maxRules` rules and `maxEntries` service entries.
   */
  checkRoom(key: string, rule: LbRule, cur: LbRule | undefined, ruleCount: number, maxRules: number, maxEntries: number): void {
    const ids = serviceIds(rule);
    for (const id of ids) {
      const owner = this.owners.get(id);
      if (owner !== undefined && owner !== key) {
        const [addr, port, proto] = id.split('|');
        throw new ConflictError(`lbrule-exists error: ${addr}:${port}/${proto} is already served by the rule ${owner} (rules on one address, port and protocol cannot be told apart by block or host)`);
      }
    }
    if (!cur && ruleCount >= maxRules) throw new ApiError(403, `lbrule capacity: the datapath holds at most ${maxRules} rules (--max-rules)`);
    const grow = ids.length - (cur ? serviceIds(cur).length : 0);
    if (this.owners.size + grow > maxEntries) {
      throw new ApiError(403, `lbrule capacity: the datapath holds at most ${maxEntries} address/port entries (port ranges and secondary IPs count one per port and address; four per rule of --max-rules)`);
    }
  }
}
