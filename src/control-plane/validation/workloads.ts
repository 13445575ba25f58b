// The `meshwork analyze` checks that need the model (cli/analyze.ts calls workloadFindings): a DestinationRule
// subset whose labels match no workload the config declares (ServiceEntry endpoints, WorkloadEntries it
// selects; Istio's analyzer reports the same for pods), several ServiceEntries of one host that do not merge,
// and ports on which sidecars cannot reach every service (service-entries.ts). Workloads that register at run
// time (`meshwork proxy --sidecar`) are not in the config, so a service with no declared workload at all is
// left alone: its subsets may well be filled by sidecars.
import type { Diagnostic } from '../../api/mesh/validate.js';
import type { MeshResource } from '../../api/mesh/types.js';
import { buildSnapshot, type MeshSnapshot } from '../model/snapshot.js';
import { resolveHost } from '../model/hosts.js';
import { selects } from '../model/labels.js';
import { outboundPortFindings, serviceEntryMergeFindings } from './service-entries.js';

export function workloadFindings(resources: readonly MeshResource[]): Diagnostic[] {
  const snapshot = buildSnapshot(resources);
  return [...subsetFindings(resources, snapshot), ...serviceEntryMergeFindings(resources), ...outboundPortFindings(resources, snapshot.services.all)];
}

function subsetFindings(resources: readonly MeshResource[], snapshot: MeshSnapshot): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const r of resources) {
    if (r.kind !== 'DestinationRule') continue;
    const dr = r as MeshResource<'DestinationRule'>;
    const ns = dr.metadata.namespace;
    const host = resolveHost(dr.spec.host, ns);
    const services = snapshot.services.declarations(host);
    const endpoints = services.flatMap((s) => [...snapshot.endpoints.of(s).byPort.values()].flat());
    if (endpoints.length === 0) continue;
    (dr.spec.subsets ?? []).forEach((subset, i) => {
      if (!subset.labels || Object.keys(subset.labels).length === 0) return;
      if (endpoints.some((e) => selects(subset.labels, e.labels))) return;
      const path = `spec.subsets[${i}].labels`;
      const resource = `DestinationRule ${ns}/${dr.metadata.name}`;
      const reason = `subset "${subset.name}" selects no workload of ${host}: none of its ${endpoints.length} endpoint${endpoints.length === 1 ? '' : 's'} has labels ${JSON.stringify(subset.labels)}`;
      const location = dr.locate?.(path) ?? dr.location;
      out.push({ code: 'MW_MESH_WARNING', severity: 'warning', resource, path, reason, location, message: `${location ? `${location}: ` : ''}${resource}: ${path}: ${reason}` });
    });
  }
  return out;
}
