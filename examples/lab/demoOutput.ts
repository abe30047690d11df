// How `npm run demo` prints: numbered steps, a command as a user would type
// it at a root prompt in a lab node followed by its real output, and a line
// saying what to notice. Colour only on a terminal (and not with NO_COLOR),
// so the end-to-end test reads plain text.
import { performance } from 'node:perf_hooks';
import type { LabProcess } from '../../test/lab/Lab.ts';

const useColor = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: string) => (s: string) => (useColor ? `\x1b[${code}m${s}\x1b[0m` : s);
export const bold = paint('1');
export const dim = paint('2');
export const red = paint('1;31');
export const green = paint('1;32');
export const yellow = paint('1;33');
export const cyan = paint('36');

/** Seconds since this process started (performance's time origin), loading included. */
export function elapsedSeconds(): number {
  return performance.now() / 1000;
}
const clock = () => `${elapsedSeconds().toFixed(1).padStart(5)}s`;
let stepNo = 0;

export function heading(title: string): void {
  stepNo++;
  const text = `Step ${stepNo}: ${title}`;
  console.log(`\n${bold(text)} ${dim(`[${clock()}]`)}`);
  console.log(bold('─'.repeat(text.length)));
}

export function part(title: string): void {
  const text = `═══ ${title} ═══`;
  console.log(`\n\n${bold(text)}`);
}

export function subheading(title: string): void {
  console.log(`\n${bold(`▸ ${title}`)}`);
}

export function say(text: string): void {
  console.log(`  ${text}`);
}

export function ok(text: string): void {
  console.log(`  ${green('✔')} ${text}`);
}

/** What to notice in the output just shown. */
export function notice(text: string): void {
  console.log(`  ${yellow('➜')} ${text}`);
}

/** Prints a command as typed at a root prompt in `node`, then its output. */
export async function shell(node: string, cmd: string, run: () => Promise<string>): Promise<string> {
  console.log(`${cyan(`root@${node}:/#`)} ${cmd}`);
  const out = await run();
  const text = out.replace(/\s+$/, '');
  if (text !== '') console.log(text);
  return out;
}

/** The same, for a command typed on the user's own machine (kubectl against the cluster). */
export async function userShell(cmd: string, run: () => Promise<string>): Promise<string> {
  console.log(`${cyan('user@laptop:~/loxilb-ts$')} ${cmd}`);
  const out = await run();
  const text = out.replace(/\s+$/, '');
  if (text !== '') console.log(text);
  return out;
}

const PINO_LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const PINO_SKIP = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'part']);

/** One agent log line (pino JSON) as `time LEVEL [part] msg key=value ...`; other lines as they are. */
export function formatLogLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof rec !== 'object' || rec === null || typeof rec.msg !== 'string') return line;
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 23) : '';
  const level = PINO_LEVELS[rec.level as number] ?? String(rec.level);
  const part = rec.part ? ` [${String(rec.part)}]` : '';
  const extra = Object.entries(rec)
    .filter(([k]) => !PINO_SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${level.padEnd(5)}${part} ${rec.msg}${extra ? ` ${extra}` : ''}`;
}

function tail(text: string, lines: number): string {
  const all = text.replace(/\s+$/, '').split('\n');
  return all.slice(-lines).map(formatLogLine).join('\n');
}

/** The end of each named process's log, for a failure report. */
export function printLogs(dir: string, procs: { what: string; p: LabProcess }[]): void {
  console.error(`\n${bold(`Logs in ${dir} (removed with the lab; run with LAB_KEEP=1 to keep them):`)}`);
  for (const { what, p } of procs) {
    const state = p.alive() ? `running, pid ${p.pid}` : `exited ${JSON.stringify(p.exit ?? {})}`;
    console.error(`\n${bold(`--- last 20 lines of the ${what} log (${state}) ${p.logPath ?? ''}`)}`);
    console.error(tail(p.log(), 20) || dim('(empty)'));
  }
}
