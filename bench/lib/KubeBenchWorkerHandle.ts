// Bench side of kubeBenchWorker.ts: the shared line-protocol worker handle
// (NsWorkerHandle.ts) running that script inside a lab node.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../../test/lab/Lab.ts';
import { NsWorker } from './NsWorkerHandle.ts';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kubeBenchWorker.ts');

export type KubeBenchWorker = NsWorker;

export function startKubeBenchWorker(lab: Lab, node: string, timeoutMs = 30_000): Promise<NsWorker> {
  return NsWorker.startScript(lab, node, WORKER, [], timeoutMs, 180_000);
}
