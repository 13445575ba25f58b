// One process of simulated xDS clients for bench/xds.mjs, driven over the IPC channel of child_process.fork().
//
// Each simulated client is one ADS stream (StreamAggregatedResources or DeltaAggregatedResources) that behaves
// like a sidecar Envoy: LDS and CDS wildcard, then RDS for the route configs its listeners name and EDS for
// every cluster it got, re-subscribing when those sets change, and every response ACKed at once. It keeps no
// config: that is what makes 500 of them fit in one process (src/proxy/xds/ads-client.ts builds listeners and
// clusters, far too heavy to run a thousand times).
//
// Requests are encoded with the codec (src/api/xds). Responses are not decoded with it: the codec turns a
// 1,000-resource SotW response into objects in ~1.7 ms (delta: ~6.5 ms), and 1,000 clients on one core would
// then measure themselves (1.7–6.5 s per full push) instead of the control plane. So responses arrive as raw
// bytes and a protobuf field scanner below reads only what a client acts on: version, nonce, type URL, the
// resource count, and the names of clusters (field 1 of each Cluster) and, in delta, of every resource. The
// first stream of each process also decodes every response with the codec and checks the scanner against it.
//
// The transport is gRPC over node:http2 written out here (a request is the 5-byte gRPC prefix and the message;
// a response message is reassembled from DATA chunks), not @grpc/grpc-js: grpc-js copies every received message
// into a buffer of its own, and a SotW push of ~500 KB to 1,000 clients made that ~500 MB of fresh buffers on the
// clients' core, where allocation, copying and garbage collection took about 37% of the clients' CPU (a CPU
// profile of one client process). Here a message that arrives in one chunk is read in place and one that spans
// chunks is copied into one scratch buffer per process, reused by every stream: the clients spend their core on
// what a proxy's xDS client does, not on the allocator. The control plane still speaks to a real gRPC client in
// the tests (test/xds-grpc-interop.test.ts drives it with @grpc/grpc-js-xds).
//
// Timestamps are performance.timeOrigin + performance.now(): wall-clock milliseconds with sub-ms resolution,
// comparable with the parent's on the same machine.
import http2 from 'node:http2';
import {
  ADS_METHOD_PATHS,
  TYPE_URL,
  decodeDeltaDiscoveryResponse,
  decodeDiscoveryResponse,
  encodeDeltaDiscoveryRequest,
  encodeDiscoveryRequest,
  unpackAny,
} from '../dist/src/api/xds/index.js';

const now = () => performance.timeOrigin + performance.now();
const TYPES = [TYPE_URL.CLUSTER, TYPE_URL.ENDPOINT, TYPE_URL.LISTENER, TYPE_URL.ROUTE];
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

// ---------------------------------------------------------------- protobuf scanning
// Just enough of the wire format to walk messages: varints, and skipping any field. `pos` is module state so
// the hot loop allocates nothing per field.
let pos = 0;

function varint(buf) {
  // Tags and lengths are mostly one or two bytes.
  const b0 = buf[pos++];
  if (b0 < 0x80) return b0;
  const b1 = buf[pos++];
  if (b1 < 0x80) return (b0 & 0x7f) + b1 * 128;
  let v = (b0 & 0x7f) + (b1 & 0x7f) * 128;
  let mul = 16384;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw new Error('truncated varint');
    v += (b & 0x7f) * mul; // no bit ops: lengths and tags stay below 2^53, not 2^31
    if (b < 0x80) return v;
    mul *= 128;
  }
}

function skip(buf, wireType) {
  if (wireType === 0) varint(buf);
  else if (wireType === 1) pos += 8;
  else if (wireType === 2) {
    const len = varint(buf); // before adding: `pos += varint(buf)` would add to the pos read before the call
    pos += len;
  }
  else if (wireType === 5) pos += 4;
  else throw new Error(`unsupported wire type ${wireType}`);
}

/** Calls onField(fieldNumber, start, end) for every length-delimited field of buf[from, to); skips the rest. */
function eachLenField(buf, from, to, onField) {
  pos = from;
  while (pos < to) {
    const tag = varint(buf);
    const wt = tag % 8;
    const id = Math.floor(tag / 8);
    if (wt !== 2) {
      skip(buf, wt);
      continue;
    }
    const len = varint(buf);
    const start = pos;
    pos += len;
    onField(id, start, pos);
    pos = start + len; // onField may have moved pos (nested scans)
  }
  if (pos !== to) throw new Error('field overruns its message');
}

const str = (buf, s, e) => buf.toString('utf8', s, e);

/** The first string field `id` of the message buf[from, to) ('' when absent). Stops there: a resource's
 *  name is its first field, and walking the rest of 1,000 clusters per response cost more than the rest of
 *  the client. */
function stringField(buf, from, to, id) {
  const saved = pos;
  pos = from;
  let out = '';
  while (pos < to) {
    const tag = varint(buf);
    const wt = tag % 8;
    if (wt === 2 && Math.floor(tag / 8) === id) {
      const len = varint(buf);
      out = str(buf, pos, pos + len);
      break;
    }
    skip(buf, wt);
  }
  pos = saved;
  return out;
}

/** The Any.value of the Any at buf[from, to) as [start, end]. */
function anyValue(buf, from, to) {
  let v = [to, to];
  const saved = pos;
  pos = from;
  while (pos < to) {
    const tag = varint(buf);
    if (tag !== 0x12) {
      skip(buf, tag % 8);
      continue;
    }
    const len = varint(buf);
    v = [pos, pos + len];
    pos += len;
  }
  pos = saved;
  return v;
}

// DiscoveryResponse: version_info 1, resources 2 (Any), type_url 4, nonce 5. One pass, no callback and no
// allocation per resource (the offsets go to arrays reused by every call): a SotW push hands every client
// 1,000 resources, and the clients of a process share one core.
const anyStarts = [];
const anyEnds = [];

function scanSotw(buf) {
  const m = { version: '', typeUrl: '', nonce: '', count: 0, names: null, anys: null };
  anyStarts.length = 0;
  anyEnds.length = 0;
  pos = 0;
  const to = buf.length;
  while (pos < to) {
    const tag = varint(buf);
    const wt = tag % 8;
    if (wt !== 2) {
      skip(buf, wt);
      continue;
    }
    const f = (tag - wt) / 8;
    const len = varint(buf);
    const s = pos;
    pos += len;
    if (f === 1) m.version = str(buf, s, pos);
    else if (f === 4) m.typeUrl = str(buf, s, pos);
    else if (f === 5) m.nonce = str(buf, s, pos);
    else if (f === 2) {
      m.count++;
      anyStarts.push(s);
      anyEnds.push(pos);
    }
  }
  if (pos !== to) throw new Error('field overruns its message');
  // Clusters carry their name in field 1; listeners are decoded in full (they are few). The cluster names are a
  // function of the response's content, which its version (a content hash) names: the clients of a process
  // share them instead of each making 1,000 strings per CDS response (the first client of each process, which
  // checks the scanner against the codec, always reads them itself).
  if (m.typeUrl === TYPE_URL.CLUSTER) {
    const key = `${m.version}|${m.count}`;
    if (!verifying && clusterNames.key === key) {
      m.names = clusterNames.names;
      return m;
    }
    m.names = [];
    for (let i = 0; i < anyStarts.length; i++) {
      const [vs, ve] = anyValue(buf, anyStarts[i], anyEnds[i]);
      m.names.push(stringField(buf, vs, ve, 1));
    }
    if (!verifying) {
      clusterNames.key = key;
      clusterNames.names = m.names;
    }
  } else if (m.typeUrl === TYPE_URL.LISTENER) m.anys = anyStarts.map((s, i) => [s, anyEnds[i]]);
  return m;
}

/** The latest CDS response's cluster names, by version and count (see scanSotw). */
const clusterNames = { key: '', names: [] };
/** set while the verifying client scans (it reads everything itself) */
let verifying = false;

// DeltaDiscoveryResponse: system_version_info 1, resources 2 (Resource), type_url 4, nonce 5,
// removed_resources 6. Resource: version 1, resource 2 (Any), name 3.
function scanDelta(buf) {
  const m = { version: '', typeUrl: '', nonce: '', resources: [], removed: [] };
  eachLenField(buf, 0, buf.length, (f, s, e) => {
    if (f === 1) m.version = str(buf, s, e);
    else if (f === 4) m.typeUrl = str(buf, s, e);
    else if (f === 5) m.nonce = str(buf, s, e);
    else if (f === 6) m.removed.push(str(buf, s, e));
    else if (f === 2) m.resources.push([s, e]);
  });
  m.resources = m.resources.map(([s, e]) => {
    const r = { name: '', version: '', any: null };
    const saved = pos;
    eachLenField(buf, s, e, (f, fs, fe) => {
      if (f === 3) r.name = str(buf, fs, fe);
      else if (f === 1) r.version = str(buf, fs, fe);
      else if (f === 2) r.any = [fs, fe];
    });
    pos = saved;
    return r;
  });
  return m;
}

/** Route config names a listener's HttpConnectionManagers take from RDS. Listeners are few, so the codec
 *  decodes them in full. */
function routeNames(anyBytes) {
  const listener = unpackAny({ type_url: TYPE_URL.LISTENER, value: anyBytes });
  const out = [];
  const visit = (filters) => {
    for (const f of filters ?? []) {
      const tc = f.typed_config;
      if (tc?.['@type'] === HCM && tc.rds?.route_config_name) out.push(tc.rds.route_config_name);
    }
  };
  for (const fc of listener.filter_chains ?? []) visit(fc.filters);
  if (listener.default_filter_chain) visit(listener.default_filter_chain.filters);
  const api = listener.api_listener?.api_listener;
  if (api?.['@type'] === HCM && api.rds?.route_config_name) out.push(api.rds.route_config_name);
  return out;
}

// ---------------------------------------------------------------- gRPC over HTTP/2
/** Where messages that span DATA chunks are joined: one per process, grown as needed, reused by every stream
 *  (a message is handled before the next chunk is read, so none outlives its turn in it). */
let scratch = Buffer.allocUnsafe(1 << 20);

/** One bidirectional gRPC call (grpc-status in the trailers or headers ends it). */
class GrpcStream {
  constructor(session, path, onMessage, onError) {
    this.onMessage = onMessage;
    this.onError = onError;
    this.chunks = [];
    this.have = 0; // bytes in chunks
    this.need = -1; // length of the message being read, -1 while its prefix is incomplete
    this.closed = false;
    this.stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
    this.stream.on('data', (chunk) => {
      try {
        this.onData(chunk);
      } catch (err) {
        this.onError(err);
      }
    });
    const status = (headers) => {
      const code = headers['grpc-status'];
      if (code !== undefined && code !== '0') this.onError(new Error(`grpc-status ${code}: ${decodeURIComponent(headers['grpc-message'] ?? '')}`));
    };
    this.stream.on('response', status);
    this.stream.on('trailers', status);
    this.stream.on('error', (err) => this.onError(err));
    this.stream.on('close', () => {
      if (!this.closed) this.onError(new Error('stream ended by the server'));
    });
  }

  /** Sends one message given as the parts of its encoding. */
  write(parts) {
    let len = 0;
    for (const p of parts) len += p.length;
    const prefix = Buffer.allocUnsafe(5);
    prefix[0] = 0;
    prefix.writeUInt32BE(len, 1);
    for (const p of [prefix, ...parts]) this.stream.write(p);
  }

  onData(chunk) {
    this.chunks.push(chunk);
    this.have += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.have < 5) return;
        const head = this.take(5);
        if (head[0] !== 0) throw new Error('compressed gRPC message');
        this.need = head.readUInt32BE(1);
      }
      if (this.have < this.need) return;
      const msg = this.take(this.need);
      this.need = -1;
      this.onMessage(msg);
    }
  }

  /** The next n bytes: in place when one chunk holds them, else joined in the scratch buffer. */
  take(n) {
    const first = this.chunks[0];
    if (first.length >= n) {
      this.have -= n;
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (scratch.length < n) scratch = Buffer.allocUnsafe(Math.max(n, scratch.length * 2));
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(scratch, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.have -= n;
    return scratch.subarray(0, n);
  }

  cancel() {
    this.closed = true;
    this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }
}

// ---------------------------------------------------------------- one simulated client
/** A SotW request without its names (encoded apart, see SimClient.request) */
const encode = (msg, names) => encodeDiscoveryRequest({ ...msg, resource_names: names });
/** subscription list → its encoding as DiscoveryRequest.resource_names */
const encodedNames = new WeakMap();

const sameNames = (a, b) => a.length === b.length && a.every((n, i) => n === b[i]);
const sorted = (it) => [...it].sort();
/** The names sorted and without duplicates; the array itself when it already is (the usual CDS response). */
const sortedUnique = (names) => {
  for (let i = 1; i < names.length; i++) if (!(names[i - 1] < names[i])) return sorted(new Set(names));
  return names;
};

class SimClient {
  constructor({ index, session, delta, clusters, verify }) {
    this.index = index;
    this.delta = delta;
    this.expectClusters = clusters;
    this.verify = verify;
    this.node = { id: `sidecar-${String(index).padStart(5, '0')}.bench`, cluster: 'bench', user_agent_name: 'meshwork-bench' };
    this.types = new Map(TYPES.map((t) => [t, { version: '', nonce: '', names: [], known: new Set(), count: 0, acks: new Map(), latest: '' }]));
    this.responses = 0;
    this.bytes = 0;
    this.lastAckAt = 0;
    this.syncedAt = null;
    this.error = null;
    this.sentNode = false;
    this.encode = delta ? encodeDeltaDiscoveryRequest : encodeDiscoveryRequest;
    this.call = new GrpcStream(session, delta ? ADS_METHOD_PATHS.delta : ADS_METHOD_PATHS.sotw, (buf) => {
      try {
        this.onResponse(buf);
      } catch (err) {
        this.fail(err);
      }
    }, (err) => this.fail(err));
  }

  fail(err) {
    if (this.error) return;
    this.error = `${this.node.id}: ${err.message}`;
  }

  request(fields) {
    const msg = this.delta
      ? { type_url: '', resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: '', ...fields }
      : { version_info: '', resource_names: [], type_url: '', response_nonce: '', ...fields };
    if (!this.sentNode) {
      msg.node = this.node;
      this.sentNode = true;
    }
    if (this.delta || msg.resource_names.length < 100) return this.call.write([this.encode(msg)]);
    // A SotW request repeats the whole subscription, 1,000 EDS names with every ACK: encoding them with the
    // codec each time took a millisecond per ACK, a second of the clients' core per push (Envoy does it in
    // C++ in microseconds). The names are encoded once per subscription and the other fields added as a
    // second part: protobuf fields may come in any order, which the codec and the control plane accept.
    let names = encodedNames.get(msg.resource_names);
    if (!names) encodedNames.set(msg.resource_names, (names = encodeDiscoveryRequest({ resource_names: msg.resource_names })));
    this.call.write([encode(msg, []), names]);
  }

  /** Wildcard LDS and CDS; RDS and EDS follow once their names are known. */
  start() {
    this.request({ type_url: TYPE_URL.CLUSTER });
    this.request({ type_url: TYPE_URL.LISTENER });
  }

  onResponse(buf) {
    this.responses++;
    this.bytes += buf.length;
    if (this.delta) this.onDelta(buf);
    else this.onSotw(buf);
    if (this.syncedAt === null && this.isSynced()) this.syncedAt = now();
  }

  onSotw(buf) {
    verifying = this.verify;
    const m = scanSotw(buf);
    verifying = false;
    const st = this.types.get(m.typeUrl);
    if (!st) throw new Error(`response for unexpected type ${m.typeUrl}`);
    if (this.verify) checkSotw(buf, m);
    st.version = m.version;
    st.nonce = m.nonce;
    st.count = m.count;
    // ACK first, then widen or narrow the dependent subscription (as Envoy's mux does after a CDS/LDS update).
    this.request({ version_info: m.version, resource_names: st.names, type_url: m.typeUrl, response_nonce: m.nonce });
    this.acked(st, m.version);
    if (m.typeUrl === TYPE_URL.CLUSTER) this.resubscribeSotw(TYPE_URL.ENDPOINT, sortedUnique(m.names));
    else if (m.typeUrl === TYPE_URL.LISTENER) {
      const routes = new Set();
      for (const [s, e] of m.anys) {
        const [vs, ve] = anyValue(buf, s, e);
        for (const r of routeNames(buf.subarray(vs, ve))) routes.add(r);
      }
      this.resubscribeSotw(TYPE_URL.ROUTE, sorted(routes));
    }
  }

  resubscribeSotw(typeUrl, names) {
    const st = this.types.get(typeUrl);
    if (sameNames(st.names, names)) return;
    st.names = names;
    this.request({ version_info: st.version, resource_names: names, type_url: typeUrl, response_nonce: st.nonce });
  }

  onDelta(buf) {
    const m = scanDelta(buf);
    const st = this.types.get(m.typeUrl);
    if (!st) throw new Error(`response for unexpected type ${m.typeUrl}`);
    if (this.verify) checkDelta(buf, m);
    st.version = m.version;
    st.nonce = m.nonce;
    for (const r of m.resources) st.known.add(r.name);
    for (const n of m.removed) st.known.delete(n);
    st.count = st.known.size;
    this.request({ type_url: m.typeUrl, response_nonce: m.nonce });
    this.acked(st, m.version);
    if (m.typeUrl === TYPE_URL.CLUSTER) this.resubscribeDelta(TYPE_URL.ENDPOINT, st.known);
    else if (m.typeUrl === TYPE_URL.LISTENER) {
      // Listeners come and go whole, so the route names are recomputed from the ones in this response plus
      // those remembered per listener.
      st.routesByListener ??= new Map();
      for (const r of m.resources) st.routesByListener.set(r.name, r.any ? routeNames(buf.subarray(...anyValue(buf, ...r.any))) : []);
      for (const n of m.removed) st.routesByListener.delete(n);
      this.resubscribeDelta(TYPE_URL.ROUTE, new Set([...st.routesByListener.values()].flat()));
    }
  }

  resubscribeDelta(typeUrl, want) {
    const st = this.types.get(typeUrl);
    const have = new Set(st.names);
    const subscribe = [...want].filter((n) => !have.has(n));
    const unsubscribe = [...have].filter((n) => !want.has(n));
    if (subscribe.length === 0 && unsubscribe.length === 0) return;
    st.names = [...want];
    // Dropped names are forgotten at once: the server sends nothing more about them.
    for (const n of unsubscribe) st.known.delete(n);
    st.count = st.known.size;
    this.request({ type_url: typeUrl, resource_names_subscribe: subscribe, resource_names_unsubscribe: unsubscribe });
  }

  acked(st, version) {
    const t = now();
    if (!st.acks.has(version)) st.acks.set(version, t);
    st.latest = version;
    this.lastAckAt = t;
  }

  /** Initial sync: every cluster and its endpoints, the listener and its routes, all ACKed. */
  isSynced() {
    const c = this.types.get(TYPE_URL.CLUSTER);
    const e = this.types.get(TYPE_URL.ENDPOINT);
    const l = this.types.get(TYPE_URL.LISTENER);
    const r = this.types.get(TYPE_URL.ROUTE);
    return c.count === this.expectClusters && e.count === this.expectClusters && l.count > 0 && r.count > 0 && r.count === r.names.length;
  }

  /** Forget ACK history: the next change is timed from here. */
  mark() {
    for (const st of this.types.values()) st.acks.clear();
    this.responses = 0;
    this.bytes = 0;
  }

  /** When this client first ACKed the target version of every type in `target` (null if it has not). */
  doneAt(target) {
    let at = 0;
    for (const [typeUrl, version] of Object.entries(target)) {
      const t = this.types.get(typeUrl).acks.get(version);
      if (t === undefined) return null;
      at = Math.max(at, t);
    }
    return at;
  }
}

// The scanner must agree with the codec, or the bench would time the wrong thing.
function checkSotw(buf, m) {
  const d = decodeDiscoveryResponse(buf);
  const ok = d.version_info === m.version && d.nonce === m.nonce && d.type_url === m.typeUrl && d.resources.length === m.count;
  if (!ok) throw new Error(`scanner disagrees with decodeDiscoveryResponse on ${m.typeUrl}`);
  if (m.names) {
    const names = d.resources.map((a) => unpackAny(a).name);
    if (!sameNames(names, m.names)) throw new Error('scanner read other cluster names than unpackAny');
  }
}

function checkDelta(buf, m) {
  const d = decodeDeltaDiscoveryResponse(buf);
  const ok =
    d.system_version_info === m.version && d.nonce === m.nonce && d.type_url === m.typeUrl &&
    sameNames(d.removed_resources, m.removed) && sameNames(d.resources.map((r) => `${r.name}@${r.version}`), m.resources.map((r) => `${r.name}@${r.version}`));
  if (!ok) throw new Error(`scanner disagrees with decodeDeltaDiscoveryResponse on ${m.typeUrl}`);
}

// ---------------------------------------------------------------- IPC
let clients = [];
const sessions = [];

function start({ xdsPort, first, count, delta, clusters, streamsPerConnection, windowBytes }) {
  // By default every simulated proxy has its own HTTP/2 connection, as sidecars do.
  let session;
  for (let i = 0; i < count; i++) {
    if (i % streamsPerConnection === 0) {
      session = http2.connect(`http://127.0.0.1:${xdsPort}`, { settings: { initialWindowSize: windowBytes } });
      session.on('connect', (s) => s.setLocalWindowSize(windowBytes * streamsPerConnection));
      // A session error reaches its streams too, which record it.
      session.on('error', () => {});
      sessions.push(session);
    }
    const c = new SimClient({ index: first + i, session, delta, clusters, verify: i === 0 });
    clients.push(c);
  }
  // All at once, like a fleet reconnecting to a restarted control plane.
  for (const c of clients) c.start();
}

function status() {
  const versions = {};
  for (const t of TYPES) versions[t] = {};
  let lastAckAt = 0;
  let synced = 0;
  const errors = [];
  for (const c of clients) {
    for (const t of TYPES) {
      const v = c.types.get(t).latest;
      versions[t][v] = (versions[t][v] ?? 0) + 1;
    }
    lastAckAt = Math.max(lastAckAt, c.lastAckAt);
    if (c.syncedAt !== null) synced++;
    if (c.error) errors.push(c.error);
  }
  return { versions, lastAckAt, synced, errors: errors.slice(0, 5), errorCount: errors.length };
}

process.on('message', (msg) => {
  switch (msg.cmd) {
    case 'start':
      start(msg);
      process.send({ ev: 'started', id: msg.id });
      break;
    case 'status':
      process.send({ ev: 'status', id: msg.id, ...status() });
      break;
    case 'synced':
      process.send({ ev: 'synced', id: msg.id, times: clients.map((c) => c.syncedAt) });
      break;
    case 'mark':
      for (const c of clients) c.mark();
      process.send({ ev: 'marked', id: msg.id });
      break;
    case 'collect':
      process.send({
        ev: 'collected',
        id: msg.id,
        doneAt: clients.map((c) => c.doneAt(msg.target)),
        responses: clients.map((c) => c.responses),
        bytes: clients.map((c) => c.bytes),
      });
      break;
    case 'stop':
      for (const c of clients) c.call.cancel();
      for (const s of sessions) s.close();
      clients = [];
      process.send({ ev: 'stopped', id: msg.id });
      setTimeout(() => process.exit(0), 100);
      break;
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
});
process.on('disconnect', () => process.exit(0));
