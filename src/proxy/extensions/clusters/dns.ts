// Shared DNS resolution for STRICT_DNS and LOGICAL_DNS clusters: getaddrinfo (so /etc/hosts applies, as
// with Envoy's c-ares resolver), filtered and ordered by dns_lookup_family.
import dns from 'node:dns';
import net from 'node:net';

export type LookupFamily = 'AUTO' | 'V4_ONLY' | 'V6_ONLY' | 'V4_PREFERRED' | 'ALL';

export async function resolveName(name: string, family: LookupFamily): Promise<string[]> {
  if (net.isIP(name)) return [name];
  const all = await dns.promises.lookup(name, { all: true, verbatim: true });
  const v4 = all.filter((a) => a.family === 4).map((a) => a.address);
  const v6 = all.filter((a) => a.family === 6).map((a) => a.address);
  switch (family) {
    case 'V4_ONLY':
      return v4;
    case 'V6_ONLY':
      return v6;
    case 'V4_PREFERRED':
      return v4.length > 0 ? v4 : v6;
    case 'ALL':
      return [...v4, ...v6];
    default:
      // AUTO: prefer IPv6, fall back to IPv4 (Envoy's v3 default)
      return v6.length > 0 ? v6 : v4;
  }
}

/** dns_refresh_rate (default 5000 ms, Envoy's minimum 1 ms) */
export function refreshRate(config: any): number {
  return config.dns_refresh_rate ?? 5000;
}

export function lookupFamily(config: any): LookupFamily {
  return (config.dns_lookup_family ?? 'AUTO') as LookupFamily;
}

/**
 * Run `resolve` now and then every `rate` ms after each run finishes (never overlapping), until stopped.
 * `initialized` settles after the first run: Envoy's cluster warming waits for the first answer.
 */
export function refreshLoop(rate: number, resolve: () => Promise<void>): { initialized: Promise<void>; stop(): void; stopped(): boolean } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const loop = (): void => {
    if (stopped) return;
    timer = setTimeout(() => void resolve().then(loop), rate);
    timer.unref();
  };
  return {
    initialized: resolve().then(loop),
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
    stopped: () => stopped,
  };
}
