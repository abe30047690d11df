// Minimal OpenAPI v3 documents for the fake Kubernetes API server.
//
// kubectl's default `--validate=strict` needs OpenAPI: it first asks
// /openapi/v3 whether the PATCH operation of the object's kind accepts the
// `fieldValidation` query parameter. If it does, kubectl sends
// `fieldValidation=Strict` and leaves validation to the server; if OpenAPI is
// missing altogether (404 on /openapi/v3 and /openapi/v2) kubectl refuses to
// create anything ("failed to download openapi"). So the fake publishes, per
// group-version, just the item PATCH operations with their
// x-kubernetes-group-version-kind and the fieldValidation parameter, no
// schemas (kubectl apply then falls back to its compiled-in types for
// strategic merge patches), and enforces fieldValidation itself
// (fakeKubeFields.ts).

import { createHash } from 'node:crypto';
import { RESOURCE_TYPES, type ResourceType } from './fakeKubeResources.js';

/** `api/v1` or `apis/coordination.k8s.io/v1`: the key of a group-version in the v3 root. */
function gvPath(rt: Pick<ResourceType, 'group' | 'version'>): string {
  return rt.group === '' ? `api/${rt.version}` : `apis/${rt.group}/${rt.version}`;
}

const QUERY_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'];

function patchOperation(rt: ResourceType, subresource: string): Record<string, unknown> {
  const scope = rt.namespaced ? 'Namespaced' : '';
  const suffix = subresource === '' ? '' : subresource[0]!.toUpperCase() + subresource.slice(1);
  const groupName = rt.group === '' ? 'Core' : rt.group.split('.')[0]!.replace(/^./, (c) => c.toUpperCase());
  return {
    operationId: `patch${groupName}${rt.version.toUpperCase()}${scope}${rt.kind}${suffix}`,
    parameters: QUERY_PARAMS.map((name) => ({ name, in: 'query', schema: { type: name === 'force' ? 'boolean' : 'string', uniqueItems: true } })),
    requestBody: {
      content: Object.fromEntries(
        ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'].map((t) => [t, { schema: { type: 'object' } }]),
      ),
      required: true,
    },
    responses: { '200': { description: 'OK' }, '201': { description: 'Created' } },
    'x-kubernetes-action': 'patch',
    'x-kubernetes-group-version-kind': { group: rt.group, kind: rt.kind, version: rt.version },
  };
}

function gvDocument(gv: string, version: string): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const rt of RESOURCE_TYPES) {
    if (gvPath(rt) !== gv) continue;
    const base = rt.namespaced
      ? `/${gv}/namespaces/{namespace}/${rt.resource}/{name}`
      : `/${gv}/${rt.resource}/{name}`;
    paths[base] = { patch: patchOperation(rt, '') };
    if (rt.statusSubresource) paths[`${base}/status`] = { patch: patchOperation(rt, 'status') };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version },
    paths,
    components: { schemas: {} },
  };
}

export class OpenApiV3 {
  private readonly docs = new Map<string, { body: string; hash: string }>();

  constructor(version: string) {
    for (const rt of RESOURCE_TYPES) {
      const gv = gvPath(rt);
      if (this.docs.has(gv)) continue;
      const body = JSON.stringify(gvDocument(gv, version));
      this.docs.set(gv, { body, hash: createHash('sha512').update(body).digest('hex').toUpperCase() });
    }
  }

  /** The /openapi/v3 discovery document. */
  root(): unknown {
    const paths: Record<string, unknown> = {};
    for (const [gv, doc] of this.docs) paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${doc.hash}` };
    return { paths };
  }

  /** The document of one group-version (`api/v1`, `apis/<group>/<version>`), as JSON text. */
  groupVersion(gv: string): string | undefined {
    return this.docs.get(gv)?.body;
  }
}
