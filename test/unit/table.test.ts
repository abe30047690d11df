import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTable } from '../../src/util/table.ts';

test('loxicmd layout: centered upper-case header, numbers right, text left', () => {
  const out = renderTable(
    ['Ext IP', 'Port', 'Proto', 'Name', 'Mark', 'Sel', 'Mode', '# of Endpoints', 'Timeout', 'Monitor'],
    [['123.123.123.1', '55002', 'tcp', '', '0', 'rr', 'fullnat', '1', '0', 'Off']],
  );
  assert.equal(
    out,
    '|    EXT IP     | PORT  | PROTO | NAME | MARK | SEL |  MODE   | # OF ENDPOINTS | TIMEOUT | MONITOR |\n' +
      '|---------------|-------|-------|------|------|-----|---------|----------------|---------|---------|\n' +
      '| 123.123.123.1 | 55002 | tcp   |      |    0 | rr  | fullnat |              1 |       0 | Off     |\n',
  );
});

test('no rows gives header and separator only', () => {
  assert.equal(renderTable(['Instance', 'HAState'], []), '| INSTANCE | HASTATE |\n|----------|---------|\n');
});

test('columns grow to the widest cell; missing cells are blank; control characters are flattened', () => {
  assert.equal(
    renderTable(['a', 'b'], [['x'], ['1,000', 'two\nlines'], ['80-90', '12.5']]),
    '|   A   |     B     |\n' +
      '|-------|-----------|\n' +
      '| x     |           |\n' +
      '| 1,000 | two lines |\n' +
      '| 80-90 |      12.5 |\n',
  );
});

test('width counts characters, not UTF-16 units', () => {
  // U+1D465 takes two UTF-16 units but one column.
  assert.equal(renderTable(['n'], [['\u{1D465}\u{1D465}']]), '| N  |\n|----|\n| \u{1D465}\u{1D465} |\n');
});
