// request_mirror_policies: a fire-and-forget copy of the request to another cluster (Envoy's shadowing). The
// copy is streamed as the request arrives (as Envoy does since streaming shadows), with :authority given the
// "-shadow" suffix; its response is read and discarded. Nothing that happens to a shadow — refused, reset,
// slow, hanging — reaches the primary request: shadows have their own callbacks, timer and stats (the mirror
// cluster's upstream_rq_* counters), and are reset when they outlive the route timeout.
import { compileFractionalPercent, PERCENT_100, percentHit, type FractionalPercent } from '../../common/fractional-percent.js';
import type { HeaderMap } from '../http/headers.js';
import type { Cluster } from '../upstream/cluster.js';
import type { Host } from '../upstream/host.js';
import type { UpstreamCallbacks, UpstreamResetReason, UpstreamStream } from '../upstream/pool.js';
import type { RequestMirrorPolicyConfig } from './route-table.js';

export interface MirrorPolicy {
  /** the mirror cluster, or '' when it comes from `clusterHeader` */
  readonly cluster: string;
  readonly clusterHeader: string | undefined;
  /** runtime_fraction's default value: the share of requests copied */
  readonly fraction: FractionalPercent;
  readonly appendShadowSuffix: boolean;
}

export function compileMirrorPolicies(list: readonly RequestMirrorPolicyConfig[], path: string): readonly MirrorPolicy[] {
  return Object.freeze(
    list.map((m, i) => {
      // without runtime_fraction every request is mirrored
      const fraction = compileFractionalPercent(m.runtime_fraction?.default_value, `${path}[${i}].runtime_fraction.default_value`, PERCENT_100);
      return Object.freeze({
        cluster: m.cluster ?? '',
        clusterHeader: m.cluster_header ? m.cluster_header.toLowerCase() : undefined,
        fraction,
        appendShadowSuffix: m.disable_shadow_host_suffix_append !== true,
      });
    }),
  );
}

/** Envoy's shadow host: "-shadow" goes before the port, if any ("foo:80" → "foo-shadow:80", "[::1]:80" → "[::1]-shadow:80"). */
export function shadowAuthority(host: string): string {
  const colon = host.lastIndexOf(':');
  const bracket = host.lastIndexOf(']');
  // a colon inside an unbracketed IPv6 literal or before "]" is not a port separator
  const hasPort = colon > 0 && bracket < colon && (bracket >= 0 || host.indexOf(':') === colon);
  return hasPort ? `${host.slice(0, colon)}-shadow${host.slice(colon)}` : `${host}-shadow`;
}

export interface MirrorContext {
  getCluster(name: string): Cluster | undefined;
  /** the request headers as sent to the primary (finalized by the route) */
  headers: HeaderMap;
  endStream: boolean;
  downstreamH2: boolean;
  random: () => number;
}

/** The shadows of one request; the router forwards the request body to it. */
export class MirrorSet {
  private readonly shadows: Shadow[];
  constructor(shadows: Shadow[]) {
    this.shadows = shadows;
  }

  sendData(chunk: Buffer, endStream: boolean): void {
    for (const s of this.shadows) s.sendData(chunk, endStream);
  }

  sendTrailers(trailers: HeaderMap): void {
    for (const s of this.shadows) s.sendTrailers(trailers);
  }

  /** The downstream request is complete: shadows get the route timeout from now, as the primary does. */
  requestComplete(timeoutMs: number): void {
    for (const s of this.shadows) s.startTimer(timeoutMs);
  }

  /** The primary request was abandoned before its body was complete: drop the half-sent copies. */
  abort(): void {
    for (const s of this.shadows) s.abort();
  }
}

/** Start a shadow per policy that samples this request in; null when there are none. */
export function startMirrors(policies: readonly MirrorPolicy[], ctx: MirrorContext): MirrorSet | null {
  let shadows: Shadow[] | null = null;
  for (const p of policies) {
    if (!percentHit(p.fraction, ctx.random)) continue;
    const name = p.clusterHeader !== undefined ? (ctx.headers.get(p.clusterHeader) ?? '') : p.cluster;
    const cluster = name ? ctx.getCluster(name) : undefined;
    if (!cluster) continue;
    const host = cluster.chooseHost(undefined);
    if (!host) {
      cluster.stats.upstream_cx_none_healthy.inc();
      continue;
    }
    const h = ctx.headers.clone();
    const authority = h.get(':authority');
    if (p.appendShadowSuffix && authority !== undefined) h.set(':authority', shadowAuthority(authority));
    (shadows ??= []).push(new Shadow(cluster, host, h, ctx.endStream, ctx.downstreamH2));
  }
  return shadows ? new MirrorSet(shadows) : null;
}

class Shadow implements UpstreamCallbacks {
  private readonly cluster: Cluster;
  private readonly host: Host;
  private readonly stream: UpstreamStream;
  private done = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(cluster: Cluster, host: Host, headers: HeaderMap, endStream: boolean, downstreamH2: boolean) {
    this.cluster = cluster;
    this.host = host;
    const st = cluster.stats;
    st.upstream_rq_total.inc();
    st.upstream_rq_active.inc();
    host.activeRequests++;
    host.rqTotal++;
    const pool = cluster.poolFor(host, downstreamH2 ? 'http2' : 'http1');
    this.stream = pool.newStream(this, { method: headers.get(':method') ?? 'GET', upgrade: false });
    this.stream.sendHeaders(headers, endStream);
  }

  sendData(chunk: Buffer, endStream: boolean): void {
    // a shadow never pushes back on the primary: its unsent bytes wait in its own connection's buffer
    if (!this.done) this.stream.sendData(chunk, endStream);
  }

  sendTrailers(trailers: HeaderMap): void {
    if (!this.done) this.stream.sendTrailers(trailers);
  }

  startTimer(timeoutMs: number): void {
    if (this.done || timeoutMs <= 0) return;
    this.timer = setTimeout(() => {
      this.cluster.stats.upstream_rq_timeout.inc();
      this.finish(false);
      this.stream.reset();
    }, timeoutMs);
    this.timer.unref();
  }

  abort(): void {
    if (this.done) return;
    this.cluster.stats.upstream_rq_tx_reset.inc();
    this.finish(false);
    this.stream.reset();
  }

  onHeaders(headers: HeaderMap, endStream: boolean): void {
    const status = Number(headers.get(':status'));
    const st = this.cluster.stats;
    const cls = (status / 100) | 0;
    if (cls === 2) st.upstream_rq_2xx.inc();
    else if (cls === 5) st.upstream_rq_5xx.inc();
    else if (cls === 4) st.upstream_rq_4xx.inc();
    else if (cls === 3) st.upstream_rq_3xx.inc();
    if (status >= 500) this.host.rqError++;
    else this.host.rqSuccess++;
    if (endStream) this.finish(true);
  }

  onData(_chunk: Buffer, endStream: boolean): void {
    if (endStream) this.finish(true);
  }

  onTrailers(_trailers: HeaderMap): void {
    this.finish(true);
  }

  onReset(reason: UpstreamResetReason): void {
    if (this.done) return;
    const st = this.cluster.stats;
    if (reason === 'remote-reset') st.upstream_rq_rx_reset.inc();
    st.upstream_rq_5xx.inc();
    this.host.rqError++;
    this.finish(false);
  }

  private finish(completed: boolean): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    const st = this.cluster.stats;
    st.upstream_rq_active.dec();
    this.host.activeRequests--;
    if (completed) st.upstream_rq_completed.inc();
  }
}
