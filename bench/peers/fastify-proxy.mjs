// Peer: fastify with @fastify/http-proxy (reply-from over an undici Pool), the usual way a
// Node.js team builds a gateway. Logging stays off, as fastify ships it.
// Usage: PORT=<listen> UPSTREAM=<host:port> node fastify-proxy.mjs
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const app = Fastify({ logger: false });
await app.register(proxy, {
  upstream: `http://${process.env.UPSTREAM}`,
  // Same upstream pool size as the other peers (nginx keepalive 32, undici Pool 32).
  undici: { connections: 32, pipelining: 1 },
});
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
