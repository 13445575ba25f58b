// The workload SDS socket: the other half of istio-agent. istio-agent gets the workload certificate from the CA
// and serves it to its Envoy over SDS on a Unix domain socket (./var/run/secrets/workload-spiffe-uds/socket),
// where Envoy's bootstrap has the static cluster `sds-grpc` (a pipe address) and every TLS context names
// `default` (the certificate) and `ROOTCA` (the trust bundle) from it. A Meshwork mesh proxy is its own agent and
// uses the certificate in-process; with --workload-sds-socket it also serves both secrets on that socket, so a
// co-located Envoy, another Meshwork proxy, or an application speaking SDS gets the workload identity and each
// rotation pushed, and the private key never leaves the machine.
//
// Served: envoy.service.secret.v3.SecretDiscoveryService (StreamSecrets, DeltaSecrets, FetchSecrets), as Envoy
// asks with api_type GRPC / DELTA_GRPC, and the same over AggregatedDiscoveryService (Meshwork's own proxy
// speaks ADS to every config source). Only type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
// is known; a request for another type gets no answer. `default` is the certificate this proxy holds;
// `ROOTCA` is the trust bundle the control plane sends it (roots and CRLs), or — before that arrived — nothing.
// A wildcard subscription (no names) gets both.
//
// Threat model: the socket file is made 0600 (owner only): any process of the proxy's user may read the key,
// exactly as it could read the proxy's memory. Put it in a directory only that user can enter.
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import {
  ADS_SERVICE,
  SINGLE_TYPE_SERVICES,
  TYPE_URL,
  packAny,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../../api/xds/index.js';
import { logger } from '../../common/log.js';
import type { SecretRegistry } from '../xds/secrets.js';
import { WORKLOAD_SECRET } from './workload-certs.js';

const log = logger('workload-sds');

/** The names istio-agent serves. */
export const ROOT_CA_SECRET = 'ROOTCA';
const SERVED = [WORKLOAD_SECRET, ROOT_CA_SECRET] as const;

type SotwCall = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;
type DeltaCall = grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

/** One client stream: what it subscribed to; push() sends what changed since its last response. */
interface Subscriber {
  /** SotW: names, or undefined for a wildcard; delta: the subscribed names (a wildcard is '*') */
  names: Set<string> | undefined;
  push(): void;
}

export class WorkloadSdsServer {
  private readonly server = new grpc.Server();
  private readonly subscribers = new Set<Subscriber>();
  private readonly unwatch: (() => void)[] = [];
  private nonce = 0;
  private path: string | undefined;

  constructor(private readonly secrets: SecretRegistry) {
    const sds = SINGLE_TYPE_SERVICES[TYPE_URL.SECRET];
    const handlers = {
      sotw: (call: SotwCall) => this.sotw(call),
      delta: (call: DeltaCall) => this.delta(call),
    };
    this.server.addService(ADS_SERVICE, { StreamAggregatedResources: handlers.sotw, DeltaAggregatedResources: handlers.delta });
    this.server.addService(sds, {
      StreamSecrets: handlers.sotw,
      DeltaSecrets: handlers.delta,
      FetchSecrets: (call: grpc.ServerUnaryCall<DiscoveryRequest, DiscoveryResponse>, cb: grpc.sendUnaryData<DiscoveryResponse>) => {
        const names = call.request.resource_names.length ? new Set(call.request.resource_names) : undefined;
        cb(null, this.sotwResponse(names));
      },
    });
    for (const name of SERVED) this.unwatch.push(secrets.watchName(name, () => this.changed()));
  }

  /** Listen on `path` (a stale socket file left by a crash is replaced); the socket is made owner-only. */
  async listen(path: string): Promise<void> {
    try {
      if (fs.statSync(path).isSocket()) fs.unlinkSync(path);
    } catch {
      // nothing there
    }
    await new Promise<void>((resolve, reject) => this.server.bindAsync(`unix:${path}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
    fs.chmodSync(path, 0o600);
    this.path = path;
    log.info({ path }, 'serving the workload certificate over SDS');
  }

  close(): void {
    for (const u of this.unwatch) u();
    this.server.forceShutdown();
    if (this.path) fs.rmSync(this.path, { force: true });
  }

  private changed(): void {
    for (const s of this.subscribers) s.push();
  }

  /** The served secrets a subscription covers that have a value, with their versions. */
  private available(names: Set<string> | undefined): { name: string; value: object; version: string }[] {
    const out: { name: string; value: object; version: string }[] = [];
    for (const name of names ?? SERVED) {
      if (!(SERVED as readonly string[]).includes(name)) continue;
      const cur = this.secrets.current(name);
      if (cur) out.push({ name, value: { ...cur.value, name }, version: cur.version });
    }
    return out;
  }

  private sotwResponse(names: Set<string> | undefined): DiscoveryResponse {
    const list = this.available(names);
    return {
      version_info: list.map((r) => `${r.name}=${r.version}`).join(','),
      resources: list.map((r) => packAny(r.value, TYPE_URL.SECRET)),
      type_url: TYPE_URL.SECRET,
      nonce: String(++this.nonce),
    };
  }

  private sotw(call: SotwCall): void {
    let requested = false;
    let lastVersion = '';
    let lastNonce = '';
    const send = (force: boolean) => {
      if (!requested) return;
      const res = this.sotwResponse(sub.names);
      // an unchanged set is not sent again (a change of the other secret, for a stream that names one)
      if (!force && res.version_info === lastVersion) return;
      lastVersion = res.version_info;
      lastNonce = res.nonce;
      call.write(res);
    };
    const sub: Subscriber = { names: undefined, push: () => send(false) };
    call.on('data', (req: DiscoveryRequest) => {
      if (req.type_url !== TYPE_URL.SECRET) {
        log.debug({ typeUrl: req.type_url }, 'a request for a type this socket does not serve');
        return;
      }
      if (req.error_detail) log.warn({ nonce: req.response_nonce, error: req.error_detail.message }, 'the client rejected the secrets');
      const names = req.resource_names.length ? new Set(req.resource_names) : undefined;
      const same = sameNames(names, sub.names);
      sub.names = names;
      // an ACK or NACK of the latest response, with the same names, needs no answer; a new stream or new names do
      if (requested && same && req.response_nonce === lastNonce) return;
      requested = true;
      send(true);
    });
    this.track(call, sub);
  }

  private delta(call: DeltaCall): void {
    /** per name, the version last sent */
    const sent = new Map<string, string>();
    const sub: Subscriber = {
      names: new Set(),
      push: () => {
        const wildcard = sub.names!.has('*');
        const list = this.available(wildcard ? undefined : sub.names);
        const changed = list.filter((r) => sent.get(r.name) !== r.version);
        if (changed.length === 0) return;
        for (const r of changed) sent.set(r.name, r.version);
        call.write({
          system_version_info: '',
          resources: changed.map((r) => ({ name: r.name, version: r.version, resource: packAny(r.value, TYPE_URL.SECRET) })),
          type_url: TYPE_URL.SECRET,
          removed_resources: [],
          nonce: String(++this.nonce),
        });
      },
    };
    let first = true;
    call.on('data', (req: DeltaDiscoveryRequest) => {
      if (req.type_url !== TYPE_URL.SECRET) return;
      if (req.error_detail) log.warn({ nonce: req.response_nonce, error: req.error_detail.message }, 'the client rejected the secrets');
      if (first) {
        first = false;
        // no names on the first request: a wildcard subscription (the delta protocol's legacy wildcard)
        if (req.resource_names_subscribe.length === 0) sub.names!.add('*');
        for (const [n, v] of Object.entries(req.initial_resource_versions ?? {})) sent.set(n, v);
      }
      for (const n of req.resource_names_subscribe) sub.names!.add(n);
      for (const n of req.resource_names_unsubscribe) {
        sub.names!.delete(n);
        sent.delete(n);
      }
      sub.push();
    });
    this.track(call, sub);
  }

  private track(call: SotwCall | DeltaCall, sub: Subscriber): void {
    this.subscribers.add(sub);
    const done = () => this.subscribers.delete(sub);
    call.on('end', () => {
      done();
      call.end();
    });
    call.on('error', done);
    call.on('close', done);
  }
}

function sameNames(a: Set<string> | undefined, b: Set<string> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.size === b.size && [...a].every((n) => b.has(n));
}
