// `meshwork analyze` checks of ServiceEntries against each other, through the model's own rules:
//  - several ServiceEntries of one host in one namespace (model/services.ts merges them as Istio does): the
//    ones that cannot merge (another resolution, labels, workloadSelector or exportTo) add nothing, and a port
//    number two of them declare differently keeps the first declaration;
//  - a port several TCP services share: a sidecar's outbound listener on that port forwards to one of them
//    only (without the destination IP there is no telling them apart), and a port that also carries HTTP is an
//    HTTP listener (TCP and TLS services on it are unreachable). TLS services are told apart by SNI and are
//    not reported.
import type { MeshResource } from '../../api/mesh/types.js';
import type { Diagnostic } from '../../api/mesh/validate.js';
import { isHttp, type Protocol } from '../model/protocol.js';
import { canMerge, cmp, servicesOfEntry, type Service } from '../model/services.js';

function warning(r: MeshResource, path: string, reason: string): Diagnostic {
  const resource = `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`;
  const location = r.locate?.(path) ?? r.location;
  return { code: 'MW_MESH_WARNING', severity: 'warning', resource, path, reason, location, message: `${location ? `${location}: ` : ''}${resource}: ${path}: ${reason}` };
}

const name = (r: MeshResource) => `${r.metadata.namespace}/${r.metadata.name}`;

/** Why two declarations of a host do not merge (Istio's canMergeServices), in words. */
function mergeConflict(a: MeshResource<'ServiceEntry'>, b: MeshResource<'ServiceEntry'>): string {
  const json = (v: unknown) => JSON.stringify(v ?? null);
  if ((a.spec.resolution ?? 'NONE') !== (b.spec.resolution ?? 'NONE')) return `resolution ${b.spec.resolution ?? 'NONE'} is not ${a.spec.resolution ?? 'NONE'}`;
  if (json(Object.entries(a.metadata.labels ?? {}).sort()) !== json(Object.entries(b.metadata.labels ?? {}).sort())) return 'its metadata labels differ';
  if (json(Object.entries(a.spec.workloadSelector?.labels ?? {}).sort()) !== json(Object.entries(b.spec.workloadSelector?.labels ?? {}).sort())) return 'its workloadSelector differs';
  return 'its exportTo differs';
}

/** Several ServiceEntries of one host in one namespace: declarations that add nothing, ports that lose. */
export function serviceEntryMergeFindings(resources: readonly MeshResource[]): Diagnostic[] {
  const entries = resources.filter((r): r is MeshResource<'ServiceEntry'> => r.kind === 'ServiceEntry');
  const byKey = new Map<string, { r: MeshResource<'ServiceEntry'>; s: Service; hostIndex: number }[]>();
  for (const r of entries) {
    servicesOfEntry(r).forEach((s, hostIndex) => {
      const k = `${s.namespace}/${s.hostname}`;
      (byKey.get(k) ?? byKey.set(k, []).get(k)!).push({ r, s, hostIndex });
    });
  }
  const out: Diagnostic[] = [];
  for (const list of byKey.values()) {
    if (list.length < 2) continue;
    // the model's order: the first by name comes first (Istio: the oldest)
    const ordered = [...list].sort((a, b) => cmp(a.r.metadata.name, b.r.metadata.name));
    const first = ordered[0]!;
    const ports = new Map(first.s.ports.map((p) => [p.number, { p, by: first.r }]));
    for (const d of ordered.slice(1)) {
      const host = d.s.hostname;
      if (!canMerge(first.s, d.s)) {
        out.push(warning(d.r, `spec.hosts[${d.hostIndex}]`, `host "${host}" is also declared by ServiceEntry ${name(first.r)}, and ${mergeConflict(first.r, d.r)}: the two are not merged, and only ${name(first.r)}'s ports and settings are used (the first by name; Istio keeps the oldest)`));
        continue;
      }
      d.s.ports.forEach((p, j) => {
        const had = ports.get(p.number);
        if (!had) ports.set(p.number, { p, by: d.r });
        else if (had.by !== d.r && (had.p.name !== p.name || had.p.protocol !== p.protocol)) {
          out.push(warning(d.r, `spec.ports[${j}]`, `port ${p.number} of host "${host}" is also declared by ServiceEntry ${name(had.by)} as "${had.p.name}" (${had.p.protocol}): that declaration is used, this one ("${p.name}", ${p.protocol}) is not`));
        }
      });
    }
  }
  return out;
}

/** Ports on which a sidecar's outbound listener cannot reach every service that declares them. */
export function outboundPortFindings(resources: readonly MeshResource[], services: readonly Service[]): Diagnostic[] {
  const entryOf = new Map(resources.filter((r) => r.kind === 'ServiceEntry').map((r) => [`ServiceEntry ${name(r)}`, r as MeshResource<'ServiceEntry'>]));
  const byPort = new Map<number, { s: Service; protocol: Protocol }[]>();
  for (const s of services) {
    for (const p of s.ports) {
      if (p.protocol === 'UDP') continue;
      (byPort.get(p.number) ?? byPort.set(p.number, []).get(p.number)!).push({ s, protocol: p.protocol });
    }
  }
  const out: Diagnostic[] = [];
  const at = (s: Service, port: number, reason: string) => {
    const r = entryOf.get(s.source);
    if (!r) return; // a workload registered at run time: not in the files analyzed
    const j = (r.spec.ports ?? []).findIndex((p) => p.number === port);
    out.push(warning(r, j >= 0 ? `spec.ports[${j}]` : 'spec.ports', reason));
  };
  for (const [port, list] of [...byPort].sort((a, b) => a[0] - b[0])) {
    const sorted = [...list].sort((a, b) => cmp(a.s.hostname, b.s.hostname));
    const http = sorted.filter((x) => isHttp(x.protocol));
    const tls = (x: { protocol: Protocol }) => x.protocol === 'TLS' || x.protocol === 'HTTPS';
    if (http.length > 0) {
      for (const x of sorted) {
        if (isHttp(x.protocol)) continue;
        at(x.s, port, `${x.s.hostname} is unreachable through sidecars on port ${port}: ${http[0]!.s.hostname} makes ${port} an HTTP port there, which takes HTTP only (give ${x.s.hostname} another port number)`);
      }
      continue;
    }
    const tcp = sorted.filter((x) => !tls(x));
    for (const x of tcp.slice(1)) {
      at(x.s, port, `${x.s.hostname} is unreachable through sidecars on port ${port}: their outbound listener forwards TCP on ${port} to ${tcp[0]!.s.hostname} (the first by host name) since, without the destination IP, TCP services of one port cannot be told apart (give it another port number, or use TLS: TLS services are told apart by SNI)`);
    }
  }
  return out;
}
