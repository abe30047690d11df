// Soak: does the agent's BFD hold short intervals against BIRD while the
// other core is busy? For each interval, a lab of its own where one agent
// (lb1) runs a config/bfd session with the router's BIRD at that interval × 3;
// all labs run at once for SOAK_SECONDS while one busy loop pinned to the
// last CPU keeps that core at 100 %. Flaps are counted at both
// ends: our session's state transitions and BIRD's `show bfd sessions`
// "since" column; the session's own timing stats show how close it came
// (latest periodic packet, longest silence from the peer vs the Detection
// Time).
//
//   npm run bench:bfd-soak            (10 min, 10 ms and 50 ms side by side)
//   SOAK_SECONDS=60 SOAK_INTERVALS=10 npm run bench:bfd-soak
import { spawn } from 'node:child_process';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { BgpLab, LB_NODES, ROUTER } from '../test/lab/BgpLab.ts';
import { waitFor } from '../test/lab/wait.ts';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const INTERVALS = (process.env.SOAK_INTERVALS ?? '10,50').split(',').map(Number);
const LB1 = LB_NODES[0]!;

interface Row {
  intervalMs: number;
  seconds: number;
  ourFlaps: number;
  birdFlaps: number;
  detectionMs: number;
  txLateMaxMs: number;
  txLateOverQuarter: string;
  rxGapMaxMs: number;
}

/** A busy loop on the last CPU: "the other core loaded". */
function burner(): { stop(): void } {
  const cpu = os.cpus().length - 1;
  const p = spawn('taskset', ['-c', String(cpu), process.execPath, '-e', 'for(;;){}'], { stdio: 'ignore' });
  return { stop: () => p.kill('SIGKILL') };
}

async function soak(intervalMs: number): Promise<Row> {
  const t = await BgpLab.create({
    lbCount: 1,
    worker: false,
    loglevel: 'info',
    birdBfd: { minRxMs: intervalMs, minTxMs: intervalMs, multiplier: 3, neighbors: [{ address: LB1.ipv4, local: ROUTER.ipv4 }] },
  });
  try {
    await t.mustApi(LB1.name, 'POST', '/config/bfd', { remoteIp: ROUTER.ipv4, sourceIp: LB1.ipv4, interval: intervalMs * 1000, retryCount: 3 });
    const ours = async () => ((await t.mustApi(LB1.name, 'GET', '/config/bfd/all')) as { Attr: Record<string, any>[] }).Attr[0]!;
    const birds = async () => (await t.bird.bfdSessions()).find((s) => s.address === LB1.ipv4);
    await waitFor(async () => (await ours()).state === 'BFDUp' && (await ours()).txInterval === intervalMs * 1000 && (await birds())?.state === 'Up', {
      timeoutMs: 20_000,
      what: 'session Up at the fast rate',
    });
    const start = await ours();
    const birdSince = (await birds())!.since;
    let birdFlaps = 0;
    let lastSince = birdSince;
    process.stderr.write(`soak ${intervalMs} ms x 3: ${SECONDS} s with CPU ${os.cpus().length - 1} busy\n`);
    for (let left = SECONDS; left > 0; left -= 10) {
      await sleep(Math.min(10, left) * 1000);
      const b = await birds();
      if (b?.since !== lastSince || b?.state !== 'Up') birdFlaps++;
      lastSince = b?.since ?? '';
    }
    const end = await ours();
    return {
      intervalMs,
      seconds: SECONDS,
      ourFlaps: end.transitions - start.transitions,
      birdFlaps,
      detectionMs: end.detectionTime / 1000,
      txLateMaxMs: end.timing.txLateMaxUs / 1000,
      txLateOverQuarter: `${end.timing.txLateOverQuarter} of ${end.timing.txPeriodicUp}`,
      rxGapMaxMs: end.timing.rxGapMaxUs / 1000,
    };
  } finally {
    await t.destroy();
  }
}

const load = burner();
let rows: Row[];
try {
  rows = await Promise.all(INTERVALS.map((ms) => soak(ms)));
} finally {
  load.stop();
}
console.log('| interval | soak | our state changes | BIRD flaps | detection time | latest TX (after due) | TX > 1/4 interval late | longest RX silence |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  console.log(
    `| ${r.intervalMs} ms × 3 | ${r.seconds} s | ${r.ourFlaps} | ${r.birdFlaps} | ${r.detectionMs} ms | ${r.txLateMaxMs.toFixed(1)} ms | ${r.txLateOverQuarter} | ${r.rxGapMaxMs.toFixed(1)} ms |`,
  );
}
