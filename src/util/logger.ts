// One pino root logger for a process; modules take children named after
// themselves. --loglevel accepts loxilb's level names and maps them onto pino's.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

const LOXILB_TO_PINO: Record<string, LevelWithSilent> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  notice: 'info',
  warning: 'warn',
  warn: 'warn',
  error: 'error',
  critical: 'fatal',
  alert: 'fatal',
  emergency: 'fatal',
  silent: 'silent',
};

export const LOG_LEVELS = Object.keys(LOXILB_TO_PINO).filter((l) => l !== 'silent' && l !== 'warn');

export function pinoLevel(loxilbLevel: string): LevelWithSilent | undefined {
  return LOXILB_TO_PINO[loxilbLevel.toLowerCase()];
}

/**
 * Every logger of the process's root and its children, so the level can be
 * changed at run time (POST config/params): a pino child keeps its own level.
 * Weak: children of short-lived objects are not kept alive by this.
 */
const family = new Set<WeakRef<Logger>>();
let currentLevel = 'info';

export function createLogger(level: string, name = 'loxilb'): Logger {
  currentLevel = pinoLevel(level) ? level.toLowerCase() : 'info';
  const root = pino({ name, level: pinoLevel(level) ?? 'info', onChild: (child) => void family.add(new WeakRef(child)) });
  family.add(new WeakRef(root));
  return root;
}

/** The level as it was last set (a loxilb level name). */
export function currentLogLevel(): string {
  return currentLevel;
}

/** Sets every logger of the process to a loxilb level name; false if the name is not one. */
export function setLogLevel(level: string): boolean {
  const p = pinoLevel(level);
  if (!p || p === 'silent') return false;
  for (const ref of family) {
    const l = ref.deref();
    if (l) l.level = p;
    else family.delete(ref);
  }
  currentLevel = level.toLowerCase();
  return true;
}

/** A logger that drops everything: the default for library code under unit test. */
export const silentLogger: Logger = pino({ level: 'silent' });
