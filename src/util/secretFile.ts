// Reading the files that secure the REST API: the bearer token and PEM
// certificates, keys and CA bundles. They are named by the operator (flags),
// and in Kubernetes they are mounted from a Secret, whose files are symbolic
// links into a timestamped directory: links are followed. What is refused:
// anything that is not a regular file once opened (a FIFO would block the
// start, a device would never end), and files larger than a secret can be.
// The read cannot block (O_NONBLOCK) and is bounded. Errors name the flag and
// the path, never the content.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { errnoCode } from './errors.ts';

export class SecretFileError extends Error {
  override name = 'SecretFileError';
}

/** A token is a line of text; anything longer is not one. */
export const TOKEN_FILE_MAX_BYTES = 4096;
/** Shorter tokens can be guessed: refused. */
export const TOKEN_MIN_LENGTH = 16;
/** A certificate chain or CA bundle; the system bundle is about 200 KiB. */
export const PEM_FILE_MAX_BYTES = 1024 * 1024;

/** The bytes of a regular file of at most `maxBytes`; `flag` names who asked, for errors. */
export function readBoundedFile(file: string, flag: string, maxBytes: number): Buffer {
  const where = `${flag}: ${JSON.stringify(file)}`;
  if (file === '') throw new SecretFileError(`${flag} needs a file path`);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = errnoCode(err);
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? String(err));
    throw new SecretFileError(`${where} cannot be read (${why})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new SecretFileError(`${where} is not a regular file`);
    if (st.size > maxBytes) throw new SecretFileError(`${where} is larger than ${maxBytes} bytes`);
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > maxBytes) throw new SecretFileError(`${where} is larger than ${maxBytes} bytes`);
    }
    return buf.subarray(0, n);
  } catch (err) {
    if (err instanceof SecretFileError) throw err;
    throw new SecretFileError(`${where} cannot be read (${errnoCode(err) ?? String(err)})`);
  } finally {
    closeSync(fd);
  }
}

/**
 * A bearer token from a file: surrounding whitespace (the newline editors and
 * `echo` add) is trimmed; what is left must be 16 to 4096 visible ASCII
 * characters (it travels in an HTTP header).
 */
export function readTokenFile(file: string, flag: string): string {
  const token = readBoundedFile(file, flag, TOKEN_FILE_MAX_BYTES).toString('latin1').trim();
  const where = `${flag}: ${JSON.stringify(file)}`;
  if (token === '') throw new SecretFileError(`${where} is empty: it must hold the API token`);
  if (!/^[\x21-\x7e]+$/.test(token)) throw new SecretFileError(`${where} must hold one token of visible ASCII characters, without spaces or line breaks inside`);
  if (token.length < TOKEN_MIN_LENGTH) throw new SecretFileError(`${where} holds a token of ${token.length} characters; at least ${TOKEN_MIN_LENGTH} are needed (e.g. openssl rand -hex 32)`);
  return token;
}

/**
 * A PEM file (certificate, chain, key or CA bundle): it must hold at least
 * one PEM block, and with `certificates` at least one CERTIFICATE block (a
 * key given where a certificate belongs would otherwise pass until a client
 * fails to verify).
 */
export function readPemFile(file: string, flag: string, certificates = false): Buffer {
  const pem = readBoundedFile(file, flag, PEM_FILE_MAX_BYTES);
  const text = pem.toString('latin1');
  if (!/-----BEGIN [A-Z0-9 ]+-----/.test(text)) {
    throw new SecretFileError(`${flag}: ${JSON.stringify(file)} is not a PEM file (no -----BEGIN ...----- block)`);
  }
  if (certificates && !text.includes('-----BEGIN CERTIFICATE-----')) {
    throw new SecretFileError(`${flag}: ${JSON.stringify(file)} holds no certificate (no -----BEGIN CERTIFICATE----- block)`);
  }
  return pem;
}
