// The role-change hook: `<cmd> <instance> <state> <vip>` on every real
// change of an instance's state, as loxilb runs /opt/loxilb/ka_hook.sh.
// Runs are queued so the hook sees changes in the order they happened; a
// hook that fails or hangs (killed after timeoutMs) is logged, never fatal.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { silentLogger, type Logger } from '../util/logger.ts';

/** loxilb's hook path, used when present and no --ha-hook is given. */
export const LOXILB_HOOK_PATH = '/opt/loxilb/ka_hook.sh';

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export class RoleHook {
  private chain: Promise<void> = Promise.resolve();
  /** Runs started, for status and tests. */
  runs = 0;

  constructor(
    private readonly command: string,
    private readonly log: Logger = silentLogger,
    private readonly timeoutMs = 10_000,
  ) {}

  run(instance: string, state: string, vip: string): void {
    this.chain = this.chain.then(
      () =>
        new Promise<void>((resolve) => {
          this.runs++;
          execFile(this.command, [instance, state, vip], { timeout: this.timeoutMs }, (err, _stdout, stderr) => {
            if (err) this.log.warn({ hook: this.command, instance, state, err: err.message, stderr: String(stderr).slice(0, 500) }, 'role-change hook failed');
            else this.log.info({ hook: this.command, instance, state, vip }, 'role-change hook ran');
            resolve();
          });
        }),
    );
  }

  /** Resolves when every queued run has finished. */
  idle(): Promise<void> {
    return this.chain;
  }
}
