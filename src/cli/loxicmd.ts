// Entry point of loxicmd: reads an agent's REST API and prints loxicmd's tables.
import { runLoxicmd } from './loxicmdCommands.ts';

try {
  process.exitCode = await runLoxicmd(process.argv.slice(2), {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  });
} catch (err) {
  process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
