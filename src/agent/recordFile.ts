// The on-disk format of saved state: every record carries its own checksum
// and sits on a line of its own, so a corrupted record is never taken for a
// valid one and an error can name the file and line.
//
// A snapshot (lbconfig.json, ciconfig.json, ...) is still one JSON document:
//
//   {"format":"loxilb-ts/records","version":2,"kind":"lbconfig","records":[
//   {"sum":"<8 hex>","data":{...}},
//   {"sum":"<8 hex>","data":{...}}
//   ],"count":2}
//
// and the journal (lbconfig.journal, version 3) is one change per line, each
// with its sequence number (1, 2, 3, ... since the last compaction):
//
//   <8 hex> 1 {"set":{...}}
//   <8 hex> 2 {"del":"<rule key>"}
//
// The checksum is CRC-32 over the kind and the text after it exactly as
// written (sequence number and JSON). A journal's bytes after its last
// newline are a torn append (a crash mid-write, never acknowledged): they are
// reported as such and cut off. Anything else that does not verify is an
// error, and so is a break in the sequence: a line removed whole, two lines
// swapped or one repeated, an empty line (a change cut out with its newline
// kept). Only lines removed from the very end cannot be told from changes
// never written. Older files are recognised so they can be loaded once and
// rewritten: version 1 (plain JSON, journal lines that are bare JSON
// objects) and the version 2 journal (checksum, no sequence number; its
// writer could leave empty lines, which it skips).
import { crc32 } from 'node:zlib';

export const RECORD_FORMAT = 'loxilb-ts/records';
export const RECORD_VERSION = 2;
/** The journal's own version: 3 added the sequence number. */
export const JOURNAL_VERSION = 3;
const SUM_LEN = 8;
const SUM_RE = /^[0-9a-f]{8}$/;

/** A saved record that cannot be used: which file, which line (1-based), why. */
export class RecordError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
    readonly text?: string,
  ) {
    super(`saved config ${file} line ${line}: ${reason}`);
    this.name = 'RecordError';
  }
}

/**
 * A record's checksum: CRC-32 of its kind and JSON. It catches corruption
 * (any burst of up to 32 bits, and all but 1 in 4 billion others); it is no
 * signature, and costs a microsecond per record in a burst of 10,000.
 */
export function recordSum(kind: string, json: string): string {
  return (crc32(json, crc32(`${kind}\n`)) >>> 0).toString(16).padStart(8, '0');
}

function header(kind: string): string {
  return `{"format":"${RECORD_FORMAT}","version":${RECORD_VERSION},"kind":${JSON.stringify(kind)},"records":[`;
}

/** A snapshot of `kind` holding `records`, one per line, each with its checksum. */
export function encodeRecordFile(kind: string, records: readonly unknown[]): string {
  const lines = [header(kind)];
  records.forEach((r, i) => {
    const json = JSON.stringify(r);
    lines.push(`{"sum":"${recordSum(kind, json)}","data":${json}}${i < records.length - 1 ? ',' : ''}`);
  });
  lines.push(`],"count":${records.length}}`);
  return `${lines.join('\n')}\n`;
}

export interface DecodedRecord {
  /** 1-based line number in the file. */
  line: number;
  data: unknown;
}

export type DecodedFile = { version: 2; records: DecodedRecord[] } | { version: 1; document: unknown };

/**
 * Reads a snapshot. Version 2: every line is checked (header, checksums,
 * count, trailer) and a failure throws a RecordError naming the line.
 * Anything that does not start like version 2 is tried as a version 1 JSON
 * document (the caller validates its contents).
 */
export function decodeRecordFile(kind: string, text: string, file: string, onBad?: (err: RecordError) => void): DecodedFile {
  // Anything that mentions the format is a version 2 file, damaged or not: never read as version 1.
  if (!text.startsWith(`{"format":`) && !text.includes(RECORD_FORMAT)) {
    try {
      return { version: 1, document: JSON.parse(text) };
    } catch (err) {
      throw new RecordError(file, lineOf(text, err), `not valid JSON (${(err as Error).message})`);
    }
  }
  const lines = text.split('\n');
  if (lines[0] !== header(kind)) throw new RecordError(file, 1, `not a ${kind} file of format ${RECORD_FORMAT} version ${RECORD_VERSION}`, lines[0]);
  const records: DecodedRecord[] = [];
  let skipped = 0;
  let i = 1;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('],"count":')) break;
    try {
      records.push({ line: i + 1, data: decodeRecordLine(kind, line, file, i + 1) });
    } catch (err) {
      if (!onBad || !(err instanceof RecordError)) throw err;
      onBad(err);
      skipped++;
    }
  }
  // With bad lines set aside, what is left cannot add up; the records themselves verified.
  if (skipped > 0) return { version: 2, records };
  // Every record but the last ends with a comma; the trailer counts them.
  records.forEach((r, k) => {
    const comma = lines[r.line - 1]!.endsWith('},');
    if (comma !== k < records.length - 1) throw new RecordError(file, r.line, comma ? 'a comma after the last record' : 'a comma is missing after the record', lines[r.line - 1]);
  });
  const trailerLine = i + 1;
  const trailer = lines[i];
  if (trailer === undefined) throw new RecordError(file, lines.length, 'the file ends before its closing line (truncated)');
  if (trailer !== `],"count":${records.length}}`) {
    throw new RecordError(file, trailerLine, `the closing line does not match the ${records.length} record(s) read (a record was lost or the line damaged)`, trailer);
  }
  if (lines.length !== i + 2 || lines[i + 1] !== '') throw new RecordError(file, trailerLine + 1, 'unexpected text after the closing line');
  return { version: 2, records };
}

function decodeRecordLine(kind: string, line: string, file: string, n: number): unknown {
  const prefix = '{"sum":"';
  const mid = '","data":';
  const bad = () => new RecordError(file, n, 'not a record line ({"sum":...,"data":...})', line);
  if (!line.startsWith(prefix) || line.slice(prefix.length + SUM_LEN, prefix.length + SUM_LEN + mid.length) !== mid) throw bad();
  const sum = line.slice(prefix.length, prefix.length + SUM_LEN);
  const end = line.endsWith('},') ? line.length - 2 : line.endsWith('}') ? line.length - 1 : -1;
  if (end < 0 || !SUM_RE.test(sum)) throw bad();
  const json = line.slice(prefix.length + SUM_LEN + mid.length, end);
  if (recordSum(kind, json) !== sum) throw new RecordError(file, n, 'checksum mismatch: the record was changed or damaged', line);
  try {
    return JSON.parse(json);
  } catch (err) {
    throw new RecordError(file, n, `record is not valid JSON (${(err as Error).message})`, line);
  }
}

/** One journal line (without its newline): change number `seq` (from 1 after each compaction), given as JSON text. */
export function encodeJournalLine(kind: string, seq: number, json: string): string {
  const body = `${seq} ${json}`;
  return `${recordSum(kind, body)} ${body}`;
}

export interface DecodedJournal {
  records: DecodedRecord[];
  /** 1: bare JSON lines; 2: checksums; 3: checksums and sequence numbers. */
  version: 1 | 2 | 3;
  /** Sequence number of the last change read (version 3; 0 for none). */
  lastSeq: number;
  /** Byte length of the complete, valid part: anything after it was torn (a crash mid-append). */
  validBytes: number;
  /** Bytes cut off as a torn append. */
  tornBytes: number;
}

/**
 * Reads a journal. Every complete line (ending in a newline) must verify;
 * the bytes after the last newline are a torn append. The first line that is
 * not empty says the version: `<sum> <digit>` is 3, `<sum> {` is 2 (read as
 * it was written, empty lines skipped), a bare JSON change is 1 (a last
 * line that does not parse is torn, any other bad line is an error).
 */
export function decodeJournal(kind: string, buf: Buffer, file: string, onBad?: (err: RecordError) => void): DecodedJournal {
  const lastNl = buf.lastIndexOf(0x0a);
  const completeBytes = lastNl + 1;
  const text = buf.subarray(0, completeBytes).toString('utf8');
  const lines = completeBytes === 0 ? [] : text.slice(0, -1).split('\n');
  const first = lines.find((l) => l !== '');
  if (first !== undefined && isLegacyChange(first)) return decodeLegacyJournal(buf, file, onBad);
  const version = first !== undefined && first[SUM_LEN] === ' ' && first[SUM_LEN + 1] === '{' ? 2 : 3;
  const records: DecodedRecord[] = [];
  let lastSeq = 0;
  /** The previous line was reported bad: a gap right after it is the same damage, not news. */
  let afterBad = false;
  lines.forEach((line, k) => {
    const n = k + 1;
    try {
      if (line === '') {
        if (version === 2) return;
        throw new RecordError(file, n, 'empty line: a change was cut out, or the file damaged');
      }
      const sum = line.slice(0, SUM_LEN);
      if (line[SUM_LEN] !== ' ' || !SUM_RE.test(sum)) throw new RecordError(file, n, `not a journal line (<checksum> ${version === 3 ? '<number> ' : ''}<change>)`, line);
      const body = line.slice(SUM_LEN + 1);
      if (recordSum(kind, body) !== sum) throw new RecordError(file, n, 'checksum mismatch: the change was altered or damaged', line);
      let json = body;
      if (version === 3) {
        const m = /^([1-9][0-9]{0,15}) /.exec(body);
        if (!m) throw new RecordError(file, n, 'not a journal line (<checksum> <number> <change>): the number is missing', line);
        const seq = Number(m[1]);
        if (seq !== lastSeq + 1 && !afterBad) {
          const what = seq <= lastSeq ? `change ${seq} again after change ${lastSeq} (a line repeated or lines swapped)` : `change ${seq} follows change ${lastSeq}: ${seq - lastSeq - 1} change(s) missing before it (a line removed, or lines out of order)`;
          const gap = new RecordError(file, n, what);
          if (!onBad) throw gap;
          // The line itself verified: with quarantine the gap is reported (nothing to set aside) and the line used.
          onBad(gap);
        }
        lastSeq = seq;
        json = body.slice(m[0].length);
      }
      let data: unknown;
      try {
        data = JSON.parse(json);
      } catch (err) {
        throw new RecordError(file, n, `change is not valid JSON (${(err as Error).message})`, line);
      }
      records.push({ line: n, data });
      afterBad = false;
    } catch (err) {
      if (!onBad || !(err instanceof RecordError)) throw err;
      onBad(err);
      afterBad = true;
    }
  });
  return { records, version, lastSeq, validBytes: completeBytes, tornBytes: buf.length - completeBytes };
}

/** A version 1 journal line: a bare JSON change. (A damaged version 2 line that happens to start with "{" does not parse.) */
function isLegacyChange(line: string): boolean {
  if (!line.startsWith('{')) return false;
  try {
    const v = JSON.parse(line) as unknown;
    return typeof v === 'object' && v !== null && ('set' in v || 'del' in v);
  } catch {
    return false;
  }
}

function decodeLegacyJournal(buf: Buffer, file: string, onBad?: (err: RecordError) => void): DecodedJournal {
  const lines = buf.toString('utf8').split('\n');
  const records: DecodedRecord[] = [];
  let validBytes = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') {
      if (i < lines.length - 1) validBytes += 1;
      continue;
    }
    // A checksummed line here means the first line was damaged, not an old journal: never a torn tail.
    if (/^[0-9a-f]{8} /.test(line)) {
      const bad = new RecordError(file, i + 1, 'a checksummed line after a line without checksum: the first line was damaged', line);
      if (!onBad) throw bad;
      onBad(bad);
      validBytes += Buffer.byteLength(line) + (i < lines.length - 1 ? 1 : 0);
      continue;
    }
    let data: unknown;
    try {
      data = JSON.parse(line);
    } catch (err) {
      // Version 1 had no checksums: a last line that does not parse is the torn one (as version 1 loaded it).
      if (i >= lines.length - 2) break;
      const bad = new RecordError(file, i + 1, `not valid JSON (${(err as Error).message})`, line);
      if (!onBad) throw bad;
      onBad(bad);
      validBytes += Buffer.byteLength(line) + 1;
      continue;
    }
    records.push({ line: i + 1, data });
    validBytes += Buffer.byteLength(line) + (i < lines.length - 1 ? 1 : 0);
  }
  return { records, version: 1, lastSeq: 0, validBytes, tornBytes: buf.length - validBytes };
}

/** Best guess at the line a JSON.parse error points into (V8 says "at position N"). */
function lineOf(text: string, err: unknown): number {
  const m = /position (\d+)/.exec((err as Error).message);
  if (!m) return 1;
  return text.slice(0, Number(m[1])).split('\n').length;
}
