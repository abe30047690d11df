// The shape every loxicmd command module fills in: its verb and names (with
// loxicmd's aliases), its flags in cobra's spelling, and what it runs. The
// parser (loxicmdArgs.ts) reads the flags from here, so a flag exists for a
// command exactly when its module declares it.
import type { LoxiApiClient } from '../../apiclient/LoxiApiClient.ts';
import { isIP } from 'node:net';

/**
 * `list`: repeatable and comma-separated, as cobra's StringSlice (`--endpoints=a:1,b:1`);
 * `repeat`: repeatable, each value whole (file names may hold commas).
 */
export type FlagType = 'string' | 'boolean' | 'list' | 'repeat';
export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';
export type Verb = 'get' | 'create' | 'delete' | 'set' | 'save' | 'apply';

/** A command line we cannot run; the caller prints the usage text and exits with 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
}

/** What a prepared command runs with; its arguments and flags were read by prepare(). */
export interface CommandContext {
  client: LoxiApiClient;
  output: OutputFormat;
  io: CommandIo;
}

export interface CommandSpec {
  verb: Verb;
  /** The first is the canonical name; '' for verbs without a resource (save, apply). */
  names: string[];
  flags: Record<string, FlagType>;
  /** One-letter aliases of this command's flags. */
  short?: Record<string, string>;
  /** Its line in the usage text. */
  usage: string;
  /** Checks arguments and flags before anything is sent (throws UsageError), then runs. */
  prepare(args: string[], flags: Flags): (ctx: CommandContext) => Promise<number>;
}

/** The flags given to one command, with typed readers whose errors name the flag. */
export class Flags {
  constructor(
    readonly command: string,
    private readonly values: Record<string, string | boolean | string[] | undefined>,
  ) {}

  has(name: string): boolean {
    return this.values[name] !== undefined;
  }

  str(name: string): string | undefined {
    const v = this.values[name];
    return typeof v === 'string' ? v : undefined;
  }

  bool(name: string): boolean {
    return this.values[name] === true;
  }

  list(name: string): string[] {
    const v = this.values[name];
    const all = Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
    return all.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  }

  /** Every value of a repeatable flag, as given. */
  all(name: string): string[] {
    const v = this.values[name];
    return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  }

  int(name: string, min: number, max: number): number | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    return parseIntArg(`--${name}`, v, min, max);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${v}"`);
    return v as T;
  }
}

export function parseIntArg(what: string, text: string, min: number, max: number): number {
  const n = /^(0|[1-9][0-9]{0,15})$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`${what} must be an integer from ${min} to ${max}, got "${text}"`);
  return n;
}

export function ipArg(what: string, text: string | undefined): string {
  if (text === undefined || isIP(text) === 0) throw new UsageError(`${what} must be an IPv4 or IPv6 address, got "${text ?? ''}"`);
  return text;
}

/** Exactly `min`..`max` positional arguments, else a usage error naming them. */
export function expectArgs(command: string, args: string[], names: string[], min = names.length): void {
  if (args.length < min) throw new UsageError(`${command}: missing ${names.slice(args.length, min).map((n) => `<${n}>`).join(' ')}`);
  if (args.length > names.length) throw new UsageError(`${command}: unexpected argument "${args[names.length]}"`);
}

/** What create/delete/set print: loxilb's `result` ("Success"), or the reply as JSON. */
export function printResult(ctx: CommandContext, reply: unknown): void {
  if (ctx.output === 'json') {
    ctx.io.out(`${JSON.stringify(reply, null, 4)}\n`);
    return;
  }
  const r = reply as { result?: unknown } | null;
  ctx.io.out(`${typeof r?.result === 'string' ? r.result : 'Success'}\n`);
}
