// Kubeconfig for a plain-HTTP, no-auth API server (the lab's FakeKubeApi), in
// the two forms the tests need: a file for kubectl (`--kubeconfig`) and a
// loaded KubeConfig for @kubernetes/client-node.
//
// `insecure-skip-tls-verify: true` looks odd for an http:// server but is
// required: client-node refuses an http: cluster unless skipTLSVerify is set
// ("HTTP protocol is not allowed when skipTLSVerify is not set or false").
// kubectl ignores the flag for http.

import { writeFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

export interface KubeconfigOptions {
  /** Context, cluster and user name (default `fake`). */
  name?: string;
  /** Default namespace of the context (default `default`). */
  namespace?: string;
}

export function kubeconfigDocument(server: string, opts: KubeconfigOptions = {}): Record<string, unknown> {
  const name = opts.name ?? 'fake';
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name, user: {} }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: opts.namespace ?? 'default' } }],
    'current-context': name,
    preferences: {},
  };
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
