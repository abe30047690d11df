// An in-memory IP network of raw sockets for unit tests of code that takes a
// RawSocketFactory (the SCTP prober, the SCTP peers): hosts own addresses,
// a packet goes to every open socket of its family on the host that owns its
// destination address, as the kernel hands a protocol's packets to every raw
// socket of it. Delivery is synchronous but never re-entrant (sends made
// while delivering queue behind the current packet), so a test sees the whole
// exchange settled when send() returns. Every packet is kept in `log`, and
// `drop` cuts paths.
import ipaddr from 'ipaddr.js';
import type { IpFamily, RawIpSocket, RawPacket, RawPacketHandler, RawSendOptions, RawSocketFactory } from '../../src/net/RawSocket.ts';

export interface FakeRawPacket {
  src: string;
  dst: string;
  payload: Buffer;
  /** Dropped by the `drop` predicate, or nobody owned the destination. */
  delivered: boolean;
}

function canonical(addr: string): string {
  return ipaddr.process(addr).toString();
}

function familyOf(addr: string): IpFamily {
  return ipaddr.process(addr).kind() === 'ipv4' ? 4 : 6;
}

class FakeSocket implements RawIpSocket {
  open = true;
  constructor(
    readonly family: IpFamily,
    private readonly host: FakeRawHost,
    readonly onPacket: RawPacketHandler,
  ) {}

  send(dst: string, payload: Buffer, opts: RawSendOptions = {}): string | undefined {
    if (!this.open) return 'ERR_SOCKET_CLOSED';
    if (familyOf(dst) !== this.family) throw new TypeError(`not an IPv${this.family} address: ${dst}`);
    const src = opts.src !== undefined ? canonical(opts.src) : this.host.addresses.find((a) => familyOf(a) === this.family);
    if (src === undefined) return 'ENETUNREACH';
    if (!this.host.addresses.includes(src)) return 'EINVAL';
    this.host.network.transmit({ src, dst: canonical(dst), payload: Buffer.from(payload), delivered: false });
    return undefined;
  }

  close(): void {
    this.open = false;
    this.host.sockets.delete(this);
  }
}

export class FakeRawHost {
  readonly sockets = new Set<FakeSocket>();
  /** Sockets opened over the host's life, closed ones included. */
  opened = 0;

  constructor(
    readonly network: FakeRawNetwork,
    readonly addresses: string[],
  ) {}

  /** The factory to hand to the code under test. */
  readonly openSocket: RawSocketFactory = (family, onPacket) => {
    const s = new FakeSocket(family, this, onPacket);
    this.sockets.add(s);
    this.opened++;
    return s;
  };

  get openSockets(): number {
    return this.sockets.size;
  }
}

export class FakeRawNetwork {
  readonly log: FakeRawPacket[] = [];
  /** Return true to lose a packet (a cut path). */
  drop: (p: FakeRawPacket) => boolean = () => false;
  private readonly hosts: FakeRawHost[] = [];
  private readonly queue: FakeRawPacket[] = [];
  private delivering = false;

  addHost(addresses: string[]): FakeRawHost {
    const h = new FakeRawHost(this, addresses.map(canonical));
    this.hosts.push(h);
    return h;
  }

  /** Puts a packet on the wire as if some host sent it (a hand-made one, a spoofed one). */
  inject(src: string, dst: string, payload: Buffer): void {
    this.transmit({ src: canonical(src), dst: canonical(dst), payload, delivered: false });
  }

  transmit(p: FakeRawPacket): void {
    this.log.push(p);
    this.queue.push(p);
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) this.deliver(next);
    } finally {
      this.delivering = false;
    }
  }

  private deliver(p: FakeRawPacket): void {
    if (this.drop(p)) return;
    const host = this.hosts.find((h) => h.addresses.includes(p.dst));
    if (host === undefined) return;
    p.delivered = true;
    const family = familyOf(p.dst);
    for (const s of [...host.sockets]) {
      if (s.family !== family || !s.open) continue;
      const rx: RawPacket = { payload: Buffer.from(p.payload), src: p.src, dst: p.dst, ifindex: 1, ttl: 64 };
      s.onPacket(rx);
    }
  }
}
