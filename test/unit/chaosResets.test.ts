// The chaos soak's reset report: failed connections grouped by error and by
// the fault that came last before each failed, so a red soak says which
// fault cost the connections.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { agentLogExcerpt, describeResets, type FaultRecord } from '../lab/chaosRun.ts';
import type { Lab } from '../lab/Lab.ts';

const fault = (kind: string, target: FaultRecord['target'], at: number): FaultRecord => ({ kind, target, targetWasMaster: true, lossMs: 10, recoveredMs: 1000, at });

it('describeResets: groups by error and the fault before, and says when nothing failed', () => {
  const faults = [fault('kill-agent', 'lb2', 10_000), fault('drain', 'lb1', 20_000)];
  const conn = (error?: string, endedAt?: number) => ({ sent: 1, echoed: 1, bytes: 1, maxGapMs: 1, endpoints: [], ...(error ? { error } : {}), ...(endedAt ? { endedAt } : {}) });
  assert.deepEqual(describeResets({ conns: [conn(), conn()] }, faults), []);
  assert.deepEqual(
    describeResets({ conns: [conn('ECONNRESET', 23_200), conn('ECONNRESET', 23_400), conn('ECONNRESET', 23_210), conn('CLOSED', 12_000), conn('EPIPE', 5_000), conn('ETIMEDOUT')] }, faults),
    ['ECONNRESET after drain on lb1 (+3.2–3.4 s) ×3', 'CLOSED after kill-agent on lb2 (+2.0 s) ×1', 'EPIPE before the first fault ×1', 'ETIMEDOUT at an unknown time ×1'],
  );
});

it('agentLogExcerpt: the telling lines of each agent run, oldest run first, the last few of each', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lxt-excerpt-'));
  try {
    writeFileSync(path.join(dir, 'lb1.loxilb.10.log'), '{"msg":"VIP taken"}\n{"msg":"boring"}\n{"msg":"became MASTER"}\n');
    writeFileSync(path.join(dir, 'lb2.loxilb.2.log'), '{"msg":"connection table pulled from peer"}\n');
    writeFileSync(path.join(dir, 'ep1.echo.3.log'), 'MASTER\n');
    const text = agentLogExcerpt({ dir } as Lab, 1);
    assert.deepEqual(text.split('\n'), [
      '--- lb2.loxilb.2.log (1 telling lines, last 1)',
      '{"msg":"connection table pulled from peer"}',
      '--- lb1.loxilb.10.log (2 telling lines, last 1)',
      '{"msg":"became MASTER"}',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
