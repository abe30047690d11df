// Every create/delete/set/save/apply command loxicmd has, by verb.
import type { CommandSpec } from './command.ts';
import { createLb, deleteLb } from './lb.ts';
import { createBfd, deleteBfd, setBfd } from './bfd.ts';
import { createBgpGlobal, createBgpNeighbor, deleteBgpNeighbor } from './bgp.ts';
import { setHa } from './ha.ts';
import { createEndpoint, deleteEndpoint } from './endpoint.ts';
import { setLogLevel } from './params.ts';
import { apply, save } from './save.ts';

export const COMMANDS: readonly CommandSpec[] = [
  createLb, deleteLb, createBfd, setBfd, deleteBfd, createBgpNeighbor, deleteBgpNeighbor, createBgpGlobal, setHa,
  createEndpoint, deleteEndpoint, setLogLevel, save, apply,
];

export function findCommand(verb: string, name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.verb === verb && (c.names.includes(name) || c.names[0] === ''));
}
