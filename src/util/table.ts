// Text tables in the layout loxicmd prints (Go tablewriter with left and right
// borders and no top/bottom lines), so scripts and eyes used to loxicmd
// output read ours the same way.

// tablewriter's test for a number: such cells are right-aligned, others left.
const NUMERIC = /^-?(?:\d{1,3}(?:,\d{3})*|\d+)(?:\.\d+)?$/;

/** Code points, not UTF-16 units, so a non-ASCII name does not skew its column. */
function width(s: string): number {
  return [...s].length;
}

function center(s: string, w: number): string {
  const gap = w - width(s);
  const left = Math.floor(gap / 2);
  return ' '.repeat(left) + s + ' '.repeat(gap - left);
}

function align(s: string, w: number): string {
  const pad = ' '.repeat(w - width(s));
  return NUMERIC.test(s) ? pad + s : s + pad;
}

/** Control characters would break the row layout; names come from the API, so anything is possible. */
function clean(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]/g, ' ');
}

/**
 * Renders a header row (upper-cased, centered), a separator row, then one
 * line per row; every line ends with a newline. Missing cells are blank.
 */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const titles = header.map((h) => clean(h).toUpperCase());
  const cells = rows.map((r) => titles.map((_, i) => clean(r[i] ?? '')));
  const widths = titles.map((t, i) => cells.reduce((w, r) => Math.max(w, width(r[i]!)), width(t)));
  const line = (parts: string[]): string => `| ${parts.join(' | ')} |\n`;
  let out = line(titles.map((t, i) => center(t, widths[i]!)));
  out += `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`;
  for (const row of cells) out += line(widths.map((w, i) => align(row[i]!, w)));
  return out;
}
