// Test certificates made with the openssl command, as an operator would: a CA
// and certificates it signs, with the subject and subjectAltNames each use
// needs (a sync peer's IP, an API server's names, a Kubernetes user's group).
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface CertSpec {
  /** Files <name>.key and <name>.pem in the directory. */
  name: string;
  /** openssl -subj, e.g. /CN=admin/O=system:masters (default /CN=<name>). */
  subject?: string;
  /** subjectAltName entries, e.g. ['IP:127.0.0.1', 'DNS:localhost'] (none: no extension). */
  sans?: string[];
  /** extendedKeyUsage (default serverAuth,clientAuth). */
  usage?: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** An EC P-256 CA in dir (<caName>.key, <caName>.pem); one made earlier there is kept, so it signs again. */
export function makeCa(dir: string, caName = 'ca'): string {
  if (!existsSync(path.join(dir, `${caName}.pem`))) {
    openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${caName}`, '-keyout', `${caName}.key`, '-out', `${caName}.pem`]);
  }
  return path.join(dir, `${caName}.pem`);
}

/** A key and a certificate signed by the CA in dir; returns the paths. */
export function issueCert(dir: string, spec: CertSpec, caName = 'ca'): { cert: string; key: string } {
  const n = spec.name;
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', spec.subject ?? `/CN=${n}`, '-keyout', `${n}.key`, '-out', `${n}.csr`]);
  const ext = path.join(dir, `${n}.ext`);
  const lines = [`extendedKeyUsage=${spec.usage ?? 'serverAuth,clientAuth'}`];
  if (spec.sans?.length) lines.push(`subjectAltName=${spec.sans.join(',')}`);
  writeFileSync(ext, lines.join('\n') + '\n');
  openssl(dir, ['x509', '-req', '-in', `${n}.csr`, '-CA', `${caName}.pem`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', `${n}.pem`]);
  return { cert: path.join(dir, `${n}.pem`), key: path.join(dir, `${n}.key`) };
}
