// `loxicmd set ha --instance= --state= [--vip=]`: POST config/cistate, what
// kube-loxilb --setRoles sends. loxicmd has no such command; the names
// follow the body's fields. There is no delete: loxilb's API has none.
import { CI_STATES } from '../../ha/ClusterState.ts';
import { parseCiState } from '../../ha/validateCiState.ts';
import { DEFAULT_INSTANCE } from '../../lb/LbRule.ts';
import { ValidationError } from '../../util/errors.ts';
import type { CiStateModel } from '../../apiclient/models.ts';
import { UsageError, expectArgs, ipArg, printResult, type CommandSpec } from './command.ts';

export const setHa: CommandSpec = {
  verb: 'set',
  names: ['ha', 'hastate', 'HAstate', 'cistate'],
  flags: { instance: 'string', state: 'string', vip: 'string' },
  usage: `set ha --state=${CI_STATES.join('|')} [--instance=<name, default ${DEFAULT_INSTANCE}>] [--vip=<ip>]`,
  prepare(args, f) {
    expectArgs('set ha', args, []);
    const state = f.str('state');
    if (state === undefined) throw new UsageError(`set ha: --state is required: one of ${CI_STATES.join(', ')}`);
    f.oneOf('state', CI_STATES);
    const instance = f.str('instance') ?? DEFAULT_INSTANCE;
    if (instance === '') throw new UsageError('--instance must not be empty');
    const body: CiStateModel = { instance, state };
    const vip = f.str('vip');
    if (vip !== undefined) body.vip = ipArg('--vip', vip);
    try {
      parseCiState(body);
    } catch (err) {
      if (err instanceof ValidationError) throw new UsageError(`set ha: ${err.message}`);
      throw err;
    }
    return async (ctx) => {
      printResult(ctx, await ctx.client.setCiState(body));
      return 0;
    };
  },
};
