// For translation tests: a case file (multi-document YAML) → Istio resources, the proxy to translate for, and
// workloads registered at run time. Documents with a `kind` are resources (namespace "default" when absent);
// a document `proxy: <xDS node>` names the proxy (read by proxyFromNode); a document `register: [<node>...]`
// registers sidecars' own workloads, as joining sidecars do.
import { parseAllDocuments } from 'yaml';
import type { MeshKind, MeshResource } from '../../api/mesh/types.js';
import type { NodeJson } from '../../api/xds/index.js';
import type { RegisteredInstance } from '../model/instances.js';
import { instanceOfProxy, proxyFromNode, type Proxy } from '../model/proxy.js';

export interface TestCase {
  resources: MeshResource[];
  proxy: Proxy;
  registered: RegisteredInstance[];
}

export function parseResources(text: string): { resources: MeshResource[]; others: Record<string, unknown>[] } {
  const resources: MeshResource[] = [];
  const others: Record<string, unknown>[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw doc.errors[0];
    const v = doc.toJS() as Record<string, any> | null;
    if (!v) continue;
    if (typeof v.kind === 'string') {
      resources.push({
        apiVersion: v.apiVersion,
        kind: v.kind as MeshKind,
        metadata: { ...v.metadata, namespace: v.metadata?.namespace ?? 'default' },
        spec: v.spec ?? {},
      } as MeshResource);
    } else others.push(v);
  }
  return { resources, others };
}

export function parseCase(text: string): TestCase {
  const { resources, others } = parseResources(text);
  const node = others.find((o) => o.proxy)?.proxy as NodeJson | undefined;
  const registered = others
    .flatMap((o) => (o.register as NodeJson[] | undefined) ?? [])
    .map((n) => instanceOfProxy(proxyFromNode(n)))
    .filter((x): x is RegisteredInstance => x !== undefined);
  return { resources, proxy: proxyFromNode(node ?? { id: 'test' }), registered };
}
