// Reads src/ for the architecture tests: every TypeScript file with its
// text, and the imports each one makes, resolved to paths below src/.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

export const SRC_DIR = path.resolve(import.meta.dirname, '../../src');

/** Every .ts file below `root`, as paths relative to it with '/' separators. */
export function sourceFiles(root = SRC_DIR): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile() && e.name.endsWith('.ts')) out.push(path.relative(root, full).split(path.sep).join('/'));
    }
  };
  walk(root);
  return out.sort();
}

export function readSource(file: string, root = SRC_DIR): string {
  return readFileSync(path.join(root, file), 'utf8');
}

const IMPORT_RE = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/**
 * The relative imports of `text` (a file at `file` below src/), resolved to
 * paths below src/ ('../x' that leaves src/ stays as it resolves, starting
 * with '../'). Package imports (no leading '.') are left out.
 */
export function relativeImports(file: string, text: string): string[] {
  const out: string[] = [];
  // Comments may quote an import; drop them first (line and block).
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  for (const m of code.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (!spec.startsWith('.')) continue;
    out.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)));
  }
  return out;
}

/** The top folder of a path below src/ ('agent', 'cli', ...); '' for a file directly in src/. */
export function topFolder(file: string): string {
  const i = file.indexOf('/');
  return i < 0 ? '' : file.slice(0, i);
}
