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

export function createLogger(level: string, name = 'loxilb'): Logger {
  return pino({ name, level: pinoLevel(level) ?? 'info' });
}

/** A logger that drops everything: the default for library code under unit test. */
export const silentLogger: Logger = pino({ level: 'silent' });
