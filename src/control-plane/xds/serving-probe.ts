// When does a registering sidecar serve? Its workload joins other proxies' endpoints once its inbound listener
// accepts a TCP connection (Istio waits for the pod's readiness the same way): the xDS stream opens before the
// proxy has applied and warmed its listeners, and a request routed there in between would fail — and could have
// the new endpoint ejected by outlier detection. A probe that gets no answer within `timeoutMs` registers the
// workload anyway (a control plane that cannot reach its workloads must not keep them out for ever) and says so.
import net from 'node:net';
import { logger } from '../../common/log.js';
import type { RegisteredInstance } from '../model/instances.js';

const log = logger('mesh-generator');

export function tcpServingProbe(opts: { intervalMs?: number; timeoutMs?: number } = {}): (inst: RegisteredInstance) => Promise<void> {
  const interval = opts.intervalMs ?? 100;
  const timeout = opts.timeoutMs ?? 30_000;
  return (inst) => {
    const port = Object.values(inst.ports)[0];
    if (port === undefined) return Promise.resolve();
    const deadline = Date.now() + timeout;
    return new Promise<void>((resolve) => {
      const attempt = () => {
        const s = net.connect({ host: inst.address, port });
        s.once('connect', () => {
          s.destroy();
          resolve();
        });
        s.once('error', () => {
          s.destroy();
          if (Date.now() >= deadline) {
            log.warn({ proxy: inst.id, address: inst.address, port, timeoutMs: timeout }, 'the workload\'s inbound listener never answered; registering it anyway');
            resolve();
          } else setTimeout(attempt, interval).unref();
        });
      };
      attempt();
    });
  };
}
