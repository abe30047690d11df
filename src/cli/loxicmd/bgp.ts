// `loxicmd create|delete bgpneighbor <ip> <as>` as loxicmd has them, and
// `create bgpglobal`, which loxicmd lacks (loxilb takes POST
// config/bgp/global only from kube-loxilb): ours, with flags named after the
// body's fields.
import { parseBgpGlobal, parseBgpNeighbor } from '../../bgp/validateBgpConfig.ts';
import { ValidationError } from '../../util/errors.ts';
import type { BgpGlobalModel, BgpNeighborModel } from '../../apiclient/models.ts';
import { UsageError, expectArgs, ipArg, parseIntArg, printResult, type CommandSpec } from './command.ts';

function check(what: string, fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) throw new UsageError(`${what}: ${err.message}`);
    throw err;
  }
}

const ASN_MAX = 4294967295;

export const createBgpNeighbor: CommandSpec = {
  verb: 'create',
  names: ['bgpneighbor', 'bgpnei', 'bgpneigh'],
  // loxicmd spells it --setMultiHtop; --setMultiHop is accepted as well.
  flags: { remotePort: 'string', setMultiHtop: 'boolean', setMultiHop: 'boolean' },
  usage: 'create bgpneighbor <PeerIP> <ASN> [--remotePort=<port>] [--setMultiHtop]',
  prepare(args, f) {
    expectArgs('create bgpneighbor', args, ['PeerIP', 'ASN']);
    const body: BgpNeighborModel = {
      ipAddress: ipArg('create bgpneighbor: PeerIP', args[0]),
      remoteAs: parseIntArg('create bgpneighbor: ASN', args[1]!, 1, ASN_MAX),
    };
    const port = f.int('remotePort', 1, 65535);
    if (port !== undefined && port !== 179) body.remotePort = port;
    if (f.bool('setMultiHtop') || f.bool('setMultiHop')) body.setMultiHop = true;
    check('create bgpneighbor', () => parseBgpNeighbor(body));
    return async (ctx) => {
      printResult(ctx, await ctx.client.addBgpNeighbor(body));
      return 0;
    };
  },
};

export const deleteBgpNeighbor: CommandSpec = {
  verb: 'delete',
  names: ['bgpneighbor', 'bgpnei', 'bgpneigh'],
  flags: {},
  usage: 'delete bgpneighbor <PeerIP> <ASN>',
  prepare(args) {
    expectArgs('delete bgpneighbor', args, ['PeerIP', 'ASN']);
    const ip = ipArg('delete bgpneighbor: PeerIP', args[0]);
    const as = parseIntArg('delete bgpneighbor: ASN', args[1]!, 1, ASN_MAX);
    return async (ctx) => {
      printResult(ctx, await ctx.client.deleteBgpNeighbor(ip, as));
      return 0;
    };
  },
};

export const createBgpGlobal: CommandSpec = {
  verb: 'create',
  names: ['bgpglobal', 'bgpglob'],
  flags: { localAS: 'string', routerID: 'string', setNextHopSelf: 'boolean', listenPort: 'string' },
  usage: 'create bgpglobal --localAS=<asn> --routerID=<ipv4> [--setNextHopSelf] [--listenPort=<port, default 179>]',
  prepare(args, f) {
    expectArgs('create bgpglobal', args, []);
    const localAs = f.int('localAS', 1, ASN_MAX);
    if (localAs === undefined) throw new UsageError('create bgpglobal: --localAS is required (1 to 4294967295)');
    const routerId = f.str('routerID');
    if (routerId === undefined) throw new UsageError('create bgpglobal: --routerID is required (an IPv4 address)');
    const body: BgpGlobalModel = { routerId, localAs, SetNextHopSelf: f.bool('setNextHopSelf') };
    const port = f.int('listenPort', 1, 65535);
    if (port !== undefined) body.listenPort = port;
    check('create bgpglobal', () => parseBgpGlobal(body));
    return async (ctx) => {
      printResult(ctx, await ctx.client.setBgpGlobal(body));
      return 0;
    };
  },
};
