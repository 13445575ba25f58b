// The `meshwork analyze` checks of VirtualService delegation, from the model's own merge (so what analyze reports
// is exactly what the translation drops): a delegating route whose delegate does not exist (or has hosts, or is
// not exported to the root's namespace) is left out, as Istio leaves it out; a delegate route whose match cannot
// fit within the root's match is dropped.
import type { MeshResource } from '../../api/mesh/types.js';
import { resourceName, type Diagnostic } from '../../api/mesh/validate.js';
import { resolveDelegation } from '../model/virtual-services.js';

export function delegateFindings(resources: readonly MeshResource[]): Diagnostic[] {
  const vss = resources.filter((r): r is MeshResource<'VirtualService'> => r.kind === 'VirtualService');
  return resolveDelegation(vss).findings.map((f) => {
    const resource = resourceName(f.resource);
    const location = f.resource.locate?.(f.path) ?? f.resource.location;
    const code = f.kind === 'reference' ? 'MW_CONFIG_REFERENCE' : 'MW_MESH_WARNING';
    return { code, severity: 'warning', resource, path: f.path, reason: f.reason, location, message: `${location ? `${location}: ` : ''}${resource}: ${f.path}: ${f.reason}` };
  });
}
