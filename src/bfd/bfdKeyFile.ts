// Reading a BFD authentication key from a file, safely. keyFile arrives over
// an unauthenticated REST API, so it is hostile until proven otherwise:
// - only files in the key directory the operator named at start
//   (--bfd-key-dir) are read; a path outside it is refused before the file
//   system is touched, so the answer says nothing about what exists elsewhere;
// - only regular files: no symbolic links (a link out of the directory), no
//   FIFOs (a read would block the event loop), no devices (/dev/zero would
//   never end), checked with lstat before open and with fstat after it;
// - the read is bounded (at most BFD_KEY_FILE_MAX_BYTES) and cannot block
//   (O_NONBLOCK);
// - a key must be long enough for its type (BFD_KEY_LENGTHS), so a short
//   file cannot become a key guessable offline from one signed packet;
// - errors name keyFile as given and never the file's size or content.
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, realpathSync, type Stats } from 'node:fs';
import path from 'node:path';
import { BfdAuthType } from './BfdPacket.ts';
import { ValidationError } from '../util/errors.ts';
import { errnoCode } from '../util/errors.ts';

/** Key files are small; anything larger is not one. */
export const BFD_KEY_FILE_MAX_BYTES = 4096;

/**
 * Key lengths accepted per auth type, bytes. RFC 5880 §4.2 allows a simple
 * password of 1-16 bytes; the MD5 and SHA1 digest fields hold a key of up to
 * 16 and 20 bytes (§4.3, §4.4). A short key in a keyed digest can be found by
 * brute force from a single captured packet, so the digest types need at
 * least 16 bytes: MD5 keys fill their field, SHA1 keys take 16-20.
 */
export const BFD_KEY_LENGTHS: Record<BfdAuthType, { min: number; max: number }> = {
  [BfdAuthType.SimplePassword]: { min: 1, max: 16 },
  [BfdAuthType.KeyedMd5]: { min: 16, max: 16 },
  [BfdAuthType.MeticulousKeyedMd5]: { min: 16, max: 16 },
  [BfdAuthType.KeyedSha1]: { min: 16, max: 20 },
  [BfdAuthType.MeticulousKeyedSha1]: { min: 16, max: 20 },
};

const FIELD = 'auth.keyFile';

function shown(keyFile: string): string {
  return JSON.stringify(keyFile.length > 200 ? `${keyFile.slice(0, 197)}...` : keyFile);
}

function refuse(keyFile: string, why: string): ValidationError {
  return new ValidationError(FIELD, `keyFile ${shown(keyFile)} ${why}`);
}

function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** True when `inner` is `dir` itself or below it (both absolute, normalised). */
function within(dir: string, inner: string): boolean {
  const rel = path.relative(dir, inner);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * Reads the key that `keyFile` (a name relative to keyDir, or an absolute
 * path inside it) holds: its bytes less one trailing newline (LF or CRLF).
 * Throws a ValidationError for field auth.keyFile otherwise. The caller owns
 * the returned buffer and should zero it when done.
 */
export function readBfdKeyFile(keyDir: string | undefined, keyFile: string, type: BfdAuthType, typeName: string): Buffer {
  if (keyDir === undefined) throw refuse(keyFile, 'cannot be read: no BFD key directory is configured (--bfd-key-dir)');
  if (keyFile === '' || keyFile.includes('\0')) throw refuse(keyFile, 'must name a key file');
  const dir = path.resolve(keyDir);
  const target = path.resolve(dir, keyFile);
  // Lexically first: an outside path is refused without looking at it.
  if (!within(dir, target)) throw refuse(keyFile, `must name a file in the BFD key directory ${dir}`);
  let realDir: string;
  try {
    realDir = realpathSync(dir);
  } catch {
    throw refuse(keyFile, `cannot be read: the BFD key directory ${dir} does not exist`);
  }
  let realParent: string;
  try {
    realParent = realpathSync(path.dirname(target));
  } catch {
    throw refuse(keyFile, `names no file in the BFD key directory ${dir}`);
  }
  if (realParent !== realDir && !within(realDir, realParent)) {
    throw refuse(keyFile, `must name a file in the BFD key directory ${dir} (links out of it are not followed)`);
  }
  const file = path.join(realParent, path.basename(target));
  let before: Stats;
  try {
    before = lstatSync(file);
  } catch (e) {
    throw refuse(keyFile, errnoCode(e) === 'ENOENT' ? `names no file in the BFD key directory ${dir}` : `cannot be read (${errnoCode(e) ?? 'error'})`);
  }
  if (!before.isFile()) throw refuse(keyFile, `is ${kindOf(before)}: a key must be a regular file`);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    throw refuse(keyFile, `cannot be read (${errnoCode(e) ?? 'error'})`);
  }
  try {
    const st = fstatSync(fd);
    // Replaced between lstat and open: refuse rather than guess.
    if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev) throw refuse(keyFile, 'changed while being read: a key must be a regular file');
    if (st.size > BFD_KEY_FILE_MAX_BYTES) throw refuse(keyFile, `is larger than ${BFD_KEY_FILE_MAX_BYTES} bytes: not a key file`);
    const buf = Buffer.alloc(BFD_KEY_FILE_MAX_BYTES + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > BFD_KEY_FILE_MAX_BYTES) {
        buf.fill(0);
        throw refuse(keyFile, `is larger than ${BFD_KEY_FILE_MAX_BYTES} bytes: not a key file`);
      }
    }
    let end = n;
    if (end > 0 && buf[end - 1] === 0x0a) {
      end--;
      if (end > 0 && buf[end - 1] === 0x0d) end--;
    }
    const key = Buffer.from(buf.subarray(0, end));
    buf.fill(0);
    const { min, max } = BFD_KEY_LENGTHS[type];
    if (key.length < min || key.length > max) {
      key.fill(0);
      const range = min === max ? `${min}` : `${min} to ${max}`;
      throw refuse(keyFile, `must hold a key of ${range} bytes for ${typeName} (one trailing newline is not part of it)`);
    }
    return key;
  } finally {
    closeSync(fd);
  }
}
