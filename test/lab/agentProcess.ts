// Talking to and starting a loxilb agent inside a lab node: the REST call
// (curl from inside the node's namespace, so the agent may listen on
// loopback) and the start that waits for the API. Shared by every lab that
// runs agents (BgpLab, DatapathLab, the L4 benchmark's lab).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab, LabProcess } from './Lab.ts';
import { StopWaiting, waitFor } from './wait.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const LOXILB_BIN = path.join(ROOT, 'bin/loxilb');

export interface ApiReply {
  status: number;
  body: any;
}

/** REST call to a node's agent from inside its namespace, path below /netlox/v1. */
export async function agentApi(lab: Lab, node: string, method: string, p: string, body?: unknown): Promise<ApiReply> {
  const args = ['curl', '-s', '-m', '10', '-o', '-', '-w', '\n%{http_code}', '-X', method, `http://127.0.0.1:11111/netlox/v1${p}`];
  if (body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', typeof body === 'string' ? body : JSON.stringify(body));
  const r = await lab.exec(node, args);
  const nl = r.stdout.lastIndexOf('\n');
  const status = Number(r.stdout.slice(nl + 1)) || 0;
  const text = r.stdout.slice(0, nl);
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status, body: parsed };
}

/** Like agentApi, but anything other than HTTP 200 throws, naming the call. */
export async function mustAgentApi(lab: Lab, node: string, method: string, p: string, body?: unknown): Promise<any> {
  const r = await agentApi(lab, node, method, p, body);
  if (r.status !== 200) throw new Error(`${method} ${p} on ${node}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Starts `loxilb <args>` in a node with its own --config-path in the lab dir, and waits until its API answers. */
export async function startAgentProcess(lab: Lab, node: string, args: string[], loglevel = 'info'): Promise<LabProcess> {
  const all = [...args, `--config-path=${path.join(lab.dir, `${node}-config`)}`, `--loglevel=${loglevel}`];
  const p = lab.spawn(node, LOXILB_BIN, all, { logName: `${node}.loxilb` });
  await waitFor(
    async () => {
      if (!p.alive()) throw new StopWaiting(`loxilb in ${node} exited: ${p.log().split('\n').slice(-5).join('\n')}`);
      return (await agentApi(lab, node, 'GET', '/status')).status === 200;
    },
    { timeoutMs: 20_000, what: `loxilb in ${node} to answer` },
  );
  return p;
}
