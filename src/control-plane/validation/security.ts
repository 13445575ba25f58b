// The `meshwork analyze` checks of the security.istio.io resources, from the model's own rules (so what analyze
// reports is what the control plane does), after istioctl analyze's:
//  - PeerAuthentications the model ignores: a second namespace-wide (or mesh-wide) policy of one namespace
//    (the first by name counts; Istio: the oldest), and a policy with a selector in the root namespace (Istio's
//    composition never applies it);
//  - a PeerAuthentication, AuthorizationPolicy or RequestAuthentication whose selector matches no workload the
//    config declares (Istio's "NoMatchingWorkloadsFound"). Workloads that register at run time (`meshwork proxy
//    --sidecar`) are not in the config, so the check runs only where the config declares workloads in the
//    policy's scope (WorkloadEntries, ServiceEntry endpoints; a Gateway's selector stands for its gateway
//    proxies), and says so;
//  - a DestinationRule that disables TLS (`tls.mode: DISABLE`) towards a service whose workloads run STRICT
//    mutual TLS: its clients send plaintext that the servers refuse (Istio's old MTLSPolicyConflict).
import type { MeshResource } from '../../api/mesh/types.js';
import { resourceName, type Diagnostic } from '../../api/mesh/validate.js';
import { resolveHost, ROOT_NAMESPACE } from '../model/hosts.js';
import { selects, type Labels } from '../model/labels.js';
import { buildSnapshot, type MeshSnapshot } from '../model/snapshot.js';

function finding(r: MeshResource, code: Diagnostic['code'], path: string, reason: string): Diagnostic {
  const resource = resourceName(r);
  const location = (path && r.locate?.(path)) || r.location;
  return { code, severity: 'warning', resource, path, reason, location, message: `${location ? `${location}: ` : ''}${resource}: ${path ? `${path}: ` : ''}${reason}` };
}

/** A workload the config declares: its namespace (undefined: a gateway proxy, of any namespace) and labels. */
interface DeclaredWorkload {
  readonly namespace?: string;
  readonly labels: Labels;
}

function declaredWorkloads(resources: readonly MeshResource[]): DeclaredWorkload[] {
  const out: DeclaredWorkload[] = [];
  for (const r of resources) {
    if (r.kind === 'WorkloadEntry') out.push({ namespace: r.metadata.namespace, labels: (r as MeshResource<'WorkloadEntry'>).spec.labels ?? {} });
    else if (r.kind === 'ServiceEntry') for (const e of (r as MeshResource<'ServiceEntry'>).spec.endpoints ?? []) out.push({ namespace: r.metadata.namespace, labels: e.labels ?? {} });
    else if (r.kind === 'Gateway') {
      const selector = (r as MeshResource<'Gateway'>).spec.selector;
      if (selector && Object.keys(selector).length) out.push({ labels: selector });
    }
  }
  return out;
}

export function securityFindings(resources: readonly MeshResource[], snapshot: MeshSnapshot = buildSnapshot(resources)): Diagnostic[] {
  const out: Diagnostic[] = [];
  const byKey = new Map(resources.map((r) => [`${r.kind} ${r.metadata.namespace}/${r.metadata.name}`, r]));
  const pa = (key: string) => byKey.get(`PeerAuthentication ${key}`)!;

  for (const i of snapshot.peerAuthentications.ignored) {
    const r = pa(i.policy.key);
    if (i.why === 'duplicate') {
      const scope = i.policy.namespace === ROOT_NAMESPACE ? 'mesh-wide' : `namespace-wide (${i.policy.namespace})`;
      const kept = pa(i.kept!.key);
      const at = kept.location ? ` (${kept.location})` : '';
      out.push(finding(r, 'MW_MESH_CONFLICT', '', `another ${scope} PeerAuthentication, ${i.kept!.key}${at}, already decides the mode: this one is ignored (the first by name counts; Istio keeps the oldest)`));
    } else {
      out.push(finding(r, 'MW_MESH_WARNING', 'spec.selector', `a PeerAuthentication with a selector in the root namespace ${ROOT_NAMESPACE} applies to no workload (Istio ignores it): put it in the namespace of the workloads it selects`));
    }
  }

  const workloads = declaredWorkloads(resources);
  for (const r of resources) {
    if (r.kind !== 'PeerAuthentication' && r.kind !== 'AuthorizationPolicy' && r.kind !== 'RequestAuthentication') continue;
    const selector = (r.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels;
    if (!selector || Object.keys(selector).length === 0) continue;
    const ns = r.metadata.namespace;
    if (r.kind === 'PeerAuthentication' && ns === ROOT_NAMESPACE) continue; // reported above
    const inScope = workloads.filter((w) => w.namespace === undefined || ns === ROOT_NAMESPACE || w.namespace === ns);
    if (!inScope.some((w) => w.namespace !== undefined)) continue; // only workloads that register at run time: nothing to compare with
    if (inScope.some((w) => selects(selector, w.labels))) continue;
    const where = ns === ROOT_NAMESPACE ? 'in any namespace' : `in namespace ${ns}`;
    out.push(finding(r, 'MW_MESH_WARNING', 'spec.selector', `selector ${JSON.stringify(selector)} matches no workload the config declares ${where} (WorkloadEntries, ServiceEntry endpoints, Gateway selectors): the ${r.kind} applies to sidecars registering with those labels only`));
  }

  // DestinationRules that make clients send plaintext to STRICT workloads
  for (const r of resources) {
    if (r.kind !== 'DestinationRule') continue;
    const dr = r as MeshResource<'DestinationRule'>;
    const tp = dr.spec.trafficPolicy;
    const disabling = [
      ...(tp?.tls?.mode === 'DISABLE' ? ['spec.trafficPolicy.tls.mode'] : []),
      ...(tp?.portLevelSettings ?? []).flatMap((p, i) => (p.tls?.mode === 'DISABLE' ? [`spec.trafficPolicy.portLevelSettings[${i}].tls.mode`] : [])),
      ...(dr.spec.subsets ?? []).flatMap((s, i) => (s.trafficPolicy?.tls?.mode === 'DISABLE' ? [`spec.subsets[${i}].trafficPolicy.tls.mode`] : [])),
    ];
    if (disabling.length === 0) continue;
    const host = resolveHost(dr.spec.host, dr.metadata.namespace);
    for (const s of snapshot.services.declarations(host)) {
      if (s.location === 'MESH_EXTERNAL') continue;
      const endpoints = [...snapshot.endpoints.of(s).byPort.values()].flat();
      const strict = endpoints.length
        ? endpoints.some((e) => snapshot.peerAuthentications.effective(s.namespace, e.labels, []).mode === 'STRICT')
        : snapshot.peerAuthentications.namespaceMode(s.namespace) === 'STRICT';
      if (!strict) continue;
      for (const path of disabling) {
        out.push(finding(dr, 'MW_MESH_CONFLICT', path, `TLS is disabled towards ${s.hostname}, whose workloads require mutual TLS (PeerAuthentication STRICT): their sidecars refuse the plaintext these clients send`));
      }
      break;
    }
  }
  return out;
}
