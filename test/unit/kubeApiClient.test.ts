// makeApiClient: API clients of one KubeConfig share keep-alive
// connections (client-node alone opens a new one per request).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { makeApiClient } from '../../src/kube/kubeApiClient.ts';
import { kubeConfigFor } from '../lab/kubeconfig.ts';

test('requests of every client made from one KubeConfig share a keep-alive connection', async () => {
  let connections = 0;
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const kind = req.url!.includes('/leases') ? 'LeaseList' : 'NamespaceList';
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind, apiVersion: 'v1', metadata: {}, items: [] }));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const kc = kubeConfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const core = makeApiClient(kc, CoreV1Api);
    const coordination = makeApiClient(kc, CoordinationV1Api);
    for (let i = 0; i < 3; i++) {
      await core.listNamespace();
      await coordination.listNamespacedLease({ namespace: 'kube-system' });
    }
    assert.equal(seen.length, 6);
    assert.deepEqual(seen.slice(0, 2), ['GET /api/v1/namespaces', 'GET /apis/coordination.k8s.io/v1/namespaces/kube-system/leases']);
    assert.equal(connections, 1);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
