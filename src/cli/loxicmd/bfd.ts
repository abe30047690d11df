// `loxicmd create|set|delete bfd <remoteIP>` with loxicmd's flags. The
// instance defaults to llb-inst0 (loxicmd's "default" is taken as that name).
import { DEFAULT_INSTANCE } from '../../lb/LbRule.ts';
import { parseBfdSessionPost, completeBfdSession } from '../../bfd/validateBfdConfig.ts';
import { ValidationError } from '../../util/errors.ts';
import type { BfdSessionModel } from '../../apiclient/models.ts';
import { UsageError, expectArgs, ipArg, printResult, type CommandSpec, type Flags } from './command.ts';

function instanceOf(f: Flags): string {
  const i = f.str('instance');
  if (i === '') throw new UsageError('--instance must not be empty');
  return i === undefined || i === 'default' ? DEFAULT_INSTANCE : i;
}

/** Checks a BFD body with the agent's validator; `create` needs the timers, `set` may leave them 0 (kept). */
export function checkBfd(what: string, body: BfdSessionModel, create: boolean): void {
  try {
    const p = parseBfdSessionPost(body);
    if (create) completeBfdSession(p);
  } catch (err) {
    if (err instanceof ValidationError) throw new UsageError(`${what}: ${err.message}`);
    throw err;
  }
}

function build(verb: 'create' | 'set', args: string[], f: Flags): BfdSessionModel {
  expectArgs(`${verb} bfd`, args, ['remoteIP']);
  const body: BfdSessionModel = {
    instance: instanceOf(f),
    remoteIp: ipArg(`${verb} bfd: remoteIP`, args[0]),
    // loxicmd's defaults: 200000 µs and 3 for a new session; 0 (keep) for set.
    interval: f.int('interval', 0, 4294967295) ?? (verb === 'create' ? 200_000 : 0),
    retryCount: f.int('retryCount', 0, 255) ?? (verb === 'create' ? 3 : 0),
  };
  const src = f.str('sourceIP');
  if (src !== undefined) body.sourceIp = ipArg('--sourceIP', src);
  if (verb === 'set' && body.interval === 0 && body.retryCount === 0) throw new UsageError('set bfd: give --interval and/or --retryCount to change');
  checkBfd(`${verb} bfd`, body, verb === 'create');
  return body;
}

const runPost = (body: BfdSessionModel) => async (ctx: Parameters<ReturnType<CommandSpec['prepare']>>[0]) => {
  printResult(ctx, await ctx.client.setBfdSession(body));
  return 0;
};

export const createBfd: CommandSpec = {
  verb: 'create',
  names: ['bfd', 'bfd-session'],
  flags: { instance: 'string', sourceIP: 'string', interval: 'string', retryCount: 'string' },
  usage: 'create bfd <remoteIP> [--instance=<name>] [--sourceIP=<ip>] [--interval=<µs, default 200000>] [--retryCount=<n, default 3>]',
  prepare: (args, flags) => runPost(build('create', args, flags)),
};

export const setBfd: CommandSpec = {
  verb: 'set',
  names: ['bfd', 'bfd-session'],
  flags: { instance: 'string', interval: 'string', retryCount: 'string' },
  usage: 'set bfd <remoteIP> [--instance=<name>] [--interval=<µs>] [--retryCount=<n>]',
  prepare: (args, flags) => runPost(build('set', args, flags)),
};

export const deleteBfd: CommandSpec = {
  verb: 'delete',
  names: ['bfd', 'bfd-session'],
  flags: { instance: 'string' },
  usage: 'delete bfd <remoteIP> [--instance=<name>]',
  prepare(args, flags) {
    expectArgs('delete bfd', args, ['remoteIP']);
    const ip = ipArg('delete bfd: remoteIP', args[0]);
    const instance = instanceOf(flags);
    return async (ctx) => {
      printResult(ctx, await ctx.client.deleteBfdSession(ip, instance));
      return 0;
    };
  },
};
