// `loxicmd get|set log-level` through config/params, with loxicmd's levels.
import { LOG_LEVELS } from '../../util/logger.ts';
import { isPlainObject, pickFields } from '../../util/caseInsensitive.ts';
import { renderTable } from '../../util/table.ts';
import { UsageError, expectArgs, printResult, type CommandSpec } from './command.ts';

/** `get log-level`: loxicmd's `Param Name | Value` table. */
export function renderParams(body: unknown): string {
  const level = isPlainObject(body) ? pickFields(body, ['logLevel'] as const).logLevel : undefined;
  return renderTable(['Param Name', 'Value'], [['Log level', typeof level === 'string' ? level : '']]);
}

export const setLogLevel: CommandSpec = {
  verb: 'set',
  names: ['log-level', 'loglevel'],
  flags: {},
  usage: `set log-level <${LOG_LEVELS.join('|')}>`,
  prepare(args) {
    expectArgs('set log-level', args, ['level']);
    const level = args[0]!;
    if (!LOG_LEVELS.includes(level)) throw new UsageError(`set log-level: the level must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
    return async (ctx) => {
      printResult(ctx, await ctx.client.setParams({ logLevel: level }));
      return 0;
    };
  },
};
