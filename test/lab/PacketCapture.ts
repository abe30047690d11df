// Packet captures in lab nodes (dumpcap, from Debian's tshark) and the
// SCTP checksum verdict of an implementation nobody here wrote: tshark's
// SCTP dissector with CRC32c verification on (its default checks nothing).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Lab, LabProcess } from './Lab.ts';
import { waitFor } from './wait.ts';

export class PacketCapture {
  private constructor(
    readonly file: string,
    private readonly proc: LabProcess,
  ) {}

  /**
   * Starts dumpcap on interfaces of a node (pcapng into the lab dir) and
   * resolves once it is capturing. `filter` is a capture filter (BPF syntax).
   */
  static async start(lab: Lab, node: string, ifnames: string[], opts: { filter?: string; name?: string } = {}): Promise<PacketCapture> {
    const file = path.join(lab.dir, `${opts.name ?? `${node}-${ifnames.join('-')}`}.pcapng`);
    const args = [...ifnames.flatMap((i) => ['-i', i]), '-w', file];
    if (opts.filter) args.push('-f', opts.filter);
    const proc = lab.spawn(node, 'dumpcap', args, { logName: `${node}.dumpcap` });
    await waitFor(
      () => {
        if (!proc.alive()) throw new Error(`dumpcap in ${node} exited: ${proc.log()}`);
        return proc.log().includes('Capturing on');
      },
      { timeoutMs: 15_000, intervalMs: 50, what: `dumpcap capturing in ${node}` },
    );
    return new PacketCapture(file, proc);
  }

  /**
   * Waits until the file holds a frame matching a display filter. Stopping
   * loses what the kernel has not yet handed to dumpcap (a partly filled
   * TPACKET block, up to a second of traffic): wait for the last packet of
   * interest before stop(); everything before it is in the file by then.
   */
  async waitForFrame(displayFilter: string, timeoutMs = 10_000): Promise<void> {
    await waitFor(
      async () => {
        try {
          const { stdout } = await promisify(execFile)('tshark', ['-n', '-r', this.file, '-Y', displayFilter, '-T', 'fields', '-e', 'frame.number'], { timeout: 30_000 });
          return stdout.trim() !== '';
        } catch (err) {
          // The file ends mid-block while dumpcap writes: what was read still counts.
          return String((err as { stdout?: string }).stdout ?? '').trim() !== '';
        }
      },
      { timeoutMs, intervalMs: 200, what: `a frame matching "${displayFilter}" in ${this.file}` },
    );
  }

  /** Stops the capture (SIGTERM: dumpcap writes out what it has) and returns the file. See waitForFrame. */
  async stop(): Promise<string> {
    await this.proc.stop();
    return this.file;
  }
}

export interface SctpFrame {
  frame: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** The checksum as tshark shows it. */
  checksum: string;
  /** Chunk type numbers, in order. */
  chunkTypes: number[];
  status: 'good' | 'bad' | 'unverified';
}

export interface SctpChecksumReport {
  frames: SctpFrame[];
  good: number;
  bad: SctpFrame[];
  unverified: number;
}

/** Every SCTP packet in a capture with tshark's CRC32c verdict. */
export async function tsharkSctpChecksums(file: string): Promise<SctpChecksumReport> {
  const fields = ['frame.number', 'ip.src', 'ipv6.src', 'ip.dst', 'ipv6.dst', 'sctp.srcport', 'sctp.dstport', 'sctp.checksum', 'sctp.checksum.status', 'sctp.chunk_type'];
  const { stdout } = await promisify(execFile)(
    'tshark',
    ['-n', '-r', file, '-o', 'sctp.checksum:CRC 32c', '-Y', 'sctp', '-T', 'fields', '-E', 'separator=/t', '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])],
    { maxBuffer: 64 << 20, timeout: 60_000 },
  );
  const frames = stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line): SctpFrame => {
      const [frame, ip4src, ip6src, ip4dst, ip6dst, sport, dport, checksum, status, chunks] = line.split('\t');
      return {
        frame: Number(frame),
        src: ip4src || ip6src || '',
        dst: ip4dst || ip6dst || '',
        srcPort: Number(sport),
        dstPort: Number(dport),
        checksum: checksum ?? '',
        chunkTypes: (chunks ?? '').split(',').filter((c) => c !== '').map(Number),
        // The field's values: 0 bad, 1 good, 2 unverified.
        status: status === '1' ? 'good' : status === '0' ? 'bad' : 'unverified',
      };
    });
  return {
    frames,
    good: frames.filter((f) => f.status === 'good').length,
    bad: frames.filter((f) => f.status === 'bad'),
    unverified: frames.filter((f) => f.status === 'unverified').length,
  };
}
