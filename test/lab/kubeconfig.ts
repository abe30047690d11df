// Kubeconfig for the lab's API servers: a plain-HTTP, no-auth one (the lab's
// FakeKubeApi), in the two forms the tests need (a file for kubectl
// `--kubeconfig`, a loaded KubeConfig for @kubernetes/client-node), and an
// HTTPS one with a CA and a client certificate or bearer token (the real
// kube-apiserver, test/lab/KubeApiServer.ts).
//
// Without a CA, `insecure-skip-tls-verify: true` looks odd for an http://
// server but is required: client-node refuses an http: cluster unless
// skipTLSVerify is set ("HTTP protocol is not allowed when skipTLSVerify is
// not set or false"). kubectl ignores the flag for http.

import { writeFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

export interface KubeconfigOptions {
  /** Context, cluster and user name (default `fake`). */
  name?: string;
  /** Default namespace of the context (default `default`). */
  namespace?: string;
  /** The CA file that signs the server's certificate (HTTPS; verified). */
  ca?: string;
  /** How the user authenticates: client certificate and key files, or a bearer token. */
  credentials?: { clientCert?: string; clientKey?: string; token?: string };
}

export function kubeconfigDocument(server: string, opts: KubeconfigOptions = {}): Record<string, unknown> {
  const name = opts.name ?? 'fake';
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: opts.ca ? { server, 'certificate-authority': opts.ca } : { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name, user: userEntry(opts.credentials) }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: opts.namespace ?? 'default' } }],
    'current-context': name,
    preferences: {},
  };
}

function userEntry(c: KubeconfigOptions['credentials']): Record<string, string> {
  if (c?.token) return { token: c.token };
  if (c?.clientCert) return { 'client-certificate': c.clientCert, 'client-key': c.clientKey ?? '' };
  return {};
}

/** Writes a kubeconfig pointing at `server` and returns the path. */
export async function writeKubeconfig(server: string, path: string, opts: KubeconfigOptions = {}): Promise<string> {
  await writeFile(path, stringify(kubeconfigDocument(server, opts)), { mode: 0o600 });
  return path;
}

/** A client-node KubeConfig for `server`, without touching the file system or the environment. */
export function kubeConfigFor(server: string, opts: KubeconfigOptions = {}): KubeConfig {
  const name = opts.name ?? 'fake';
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name, server, skipTLSVerify: true }],
    users: [{ name }],
    contexts: [{ name, cluster: name, user: name, namespace: opts.namespace ?? 'default' }],
    currentContext: name,
  });
  return kc;
}
