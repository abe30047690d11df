// Keeps the datapath attached to the interfaces the filter allows (new ones
// and ones whose ifindex changed included), records each interface's
// addresses in the ifaddr map (onearm needs them), and watches the node's
// own addresses on those interfaces (hostonearm serves them; dsr endpoints
// must be in their subnets).
import { readFileSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import ipaddr from 'ipaddr.js';
import type { NativeLbDatapath } from '../util/nativeAddon.ts';
import { errorMessage } from '../util/errors.ts';
import { ipFamily } from '../util/ipAddress.ts';
import { usesInterface, listLinks, localAddresses, type InterfaceFilter, type LinkInfo, type LocalAddress } from './interfaces.ts';
import { encodeIfAddrs } from './layout.ts';

export interface LinkOptions extends InterfaceFilter {
  /** Also attach at TC egress (--egr-hooks). */
  egressHooks?: boolean;
}

export class LinkAttacher {
  private attached = new Map<string, LinkInfo>();
  /** ifindex -> the addresses written to the ifaddr map ("v4|v6"). */
  private ifaddrs = new Map<number, string>();
  private locals: LocalAddress[] = [];
  private localsKey = '';
  /** While true, links are tracked but not attached to (an adopted table: the old program serves until the rules are in). */
  private held = false;
  private closed = false;

  constructor(
    private readonly dp: NativeLbDatapath,
    private readonly opts: LinkOptions,
    private readonly log: Logger,
    /** The node's addresses changed: rules that depend on them must be planned again. */
    private readonly addressesChanged: () => void,
  ) {}

  /** Turns on IPv4 and IPv6 forwarding (the FIB lookup of translated packets needs it). */
  enableForwarding(): void {
    for (const [f, name] of [
      ['/proc/sys/net/ipv4/ip_forward', 'net.ipv4.ip_forward'],
      ['/proc/sys/net/ipv6/conf/all/forwarding', 'net.ipv6.conf.all.forwarding'],
    ] as const) {
      try {
        if (readFileSync(f, 'utf8').trim() !== '1') {
          writeFileSync(f, '1\n');
          this.log.info(`enabled ${name}: the datapath forwards translated packets`);
        }
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, `cannot enable ${name}; translated packets of that family may not be forwarded`);
      }
    }
  }

  /** Holds attaching (links are still tracked) until release(). */
  hold(held: boolean): void {
    this.held = held;
  }

  /** Attaches now, if hold(true) held it. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.sync();
  }

  /** Attaches to links the filter allows that are new (or whose ifindex changed), forgets gone ones. */
  sync(): void {
    if (this.closed) return;
    const links = listLinks();
    const now = new Set<string>();
    for (const l of links) {
      if ((l.ipv4 || l.ipv6) && this.ifaddrs.get(l.ifindex) !== `${l.ipv4 ?? ''}|${l.ipv6 ?? ''}`) {
        this.setIfaddr(l.ifindex, l.ipv4, l.ipv6);
      }
      if (!usesInterface(l.name, this.opts)) continue;
      if (this.held) continue;
      now.add(l.name);
      const cur = this.attached.get(l.name);
      if (cur && cur.ifindex === l.ifindex) continue;
      try {
        this.dp.attach(l.ifindex, 'ingress');
        if (this.opts.egressHooks) this.dp.attach(l.ifindex, 'egress');
        this.attached.set(l.name, l);
        this.log.info({ ifname: l.name, ifindex: l.ifindex, egress: Boolean(this.opts.egressHooks) }, 'datapath attached');
      } catch (err) {
        // A link can vanish between listing and attaching; the next pass retries.
        this.log.warn({ ifname: l.name, err: errorMessage(err) }, 'cannot attach the datapath');
      }
    }
    for (const name of [...this.attached.keys()]) {
      if (!now.has(name)) this.attached.delete(name);
    }
    const locals = localAddresses(this.opts);
    const key = locals.map((a) => `${a.address}/${a.prefixlen}@${a.ifname}`).join(',');
    if (key !== this.localsKey) {
      const first = this.localsKey === '';
      this.locals = locals;
      this.localsKey = key;
      if (!first) this.addressesChanged();
    }
  }

  /** The node's own addresses of a family on the interfaces the datapath uses. */
  nodeAddresses(family: 4 | 6): string[] {
    return this.locals.filter((a) => ipFamily(a.address) === family).map((a) => a.address);
  }

  /** Whether an address lies in a subnet of one of those interfaces. */
  isOnLink(address: string): boolean {
    const ip = ipaddr.process(address);
    return this.locals.some((a) => {
      const net = ipaddr.process(a.address);
      return net.kind() === ip.kind() && ip.match(net, a.prefixlen);
    });
  }

  private setIfaddr(ifindex: number, v4: string | undefined, v6: string | undefined): void {
    const k = Buffer.alloc(4);
    k.writeUInt32LE(ifindex);
    try {
      this.dp.mapUpdate('ifaddr', k, encodeIfAddrs(v4, v6));
      this.ifaddrs.set(ifindex, `${v4 ?? ''}|${v6 ?? ''}`);
    } catch (err) {
      this.log.warn({ ifindex, err: errorMessage(err) }, 'cannot record the interface address for onearm');
    }
  }

  interfaces(): string[] {
    return [...this.attached.keys()].sort();
  }

  /** Detaches from every interface; no pass attaches again. */
  detachAll(): void {
    this.closed = true;
    for (const l of this.attached.values()) {
      for (const dir of this.opts.egressHooks ? (['ingress', 'egress'] as const) : (['ingress'] as const)) {
        try {
          this.dp.detach(l.ifindex, dir);
        } catch (err) {
          this.log.warn({ ifname: l.name, err: errorMessage(err) }, 'cannot detach the datapath');
        }
      }
    }
    this.attached.clear();
  }
}
