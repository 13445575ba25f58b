// The 64-bit hashes Envoy uses where a hash value is visible from outside: xxHash64 (hash policies, ring hash
// and Maglev host placement, generated cookie values) and the 64-bit MurmurHash2 of libstdc++'s std::hash,
// which RING_HASH offers as MURMUR_HASH_2. Same inputs must give the same 64-bit values as Envoy, so that a ring
// built here places hosts where Envoy's would, and a key routed by Meshwork lands where Envoy would send it.
//
// Written from the xxHash spec (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md) with BigInt
// arithmetic. These run when config is applied (a few thousand ring points) and once per hashed request, so the
// code favours being checkable against the spec over speed; a 20-byte key hashes in a few microseconds.
// Strings are hashed as their UTF-8 bytes.

const MASK64 = 0xffff_ffff_ffff_ffffn;

const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

function rotl(x: bigint, r: bigint): bigint {
  return ((x << r) | (x >> (64n - r))) & MASK64;
}

function round(acc: bigint, lane: bigint): bigint {
  return (rotl((acc + lane * P2) & MASK64, 31n) * P1) & MASK64;
}

function mergeRound(acc: bigint, v: bigint): bigint {
  return (((acc ^ round(0n, v)) * P1) + P4) & MASK64;
}

function bytesOf(input: string | Uint8Array): Uint8Array {
  return typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
}

/** xxHash64 of `input` (a string is hashed as UTF-8) with an unsigned 64-bit seed. */
export function xxh64(input: string | Uint8Array, seed: bigint = 0n): bigint {
  const b = bytesOf(input);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const len = b.byteLength;
  let p = 0;
  let h: bigint;
  if (len >= 32) {
    let v1 = (seed + P1 + P2) & MASK64;
    let v2 = (seed + P2) & MASK64;
    let v3 = seed;
    let v4 = (seed - P1) & MASK64;
    for (; p + 32 <= len; p += 32) {
      v1 = round(v1, dv.getBigUint64(p, true));
      v2 = round(v2, dv.getBigUint64(p + 8, true));
      v3 = round(v3, dv.getBigUint64(p + 16, true));
      v4 = round(v4, dv.getBigUint64(p + 24, true));
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & MASK64;
    h = mergeRound(h, v1);
    h = mergeRound(h, v2);
    h = mergeRound(h, v3);
    h = mergeRound(h, v4);
  } else {
    h = (seed + P5) & MASK64;
  }
  h = (h + BigInt(len)) & MASK64;
  for (; p + 8 <= len; p += 8) {
    h ^= round(0n, dv.getBigUint64(p, true));
    h = ((rotl(h, 27n) * P1) + P4) & MASK64;
  }
  if (p + 4 <= len) {
    h ^= (BigInt(dv.getUint32(p, true)) * P1) & MASK64;
    h = ((rotl(h, 23n) * P2) + P3) & MASK64;
    p += 4;
  }
  for (; p < len; p++) {
    h ^= (BigInt(b[p]!) * P5) & MASK64;
    h = (rotl(h, 11n) * P1) & MASK64;
  }
  // avalanche
  h ^= h >> 33n;
  h = (h * P2) & MASK64;
  h ^= h >> 29n;
  h = (h * P3) & MASK64;
  h ^= h >> 32n;
  return h;
}

/**
 * xxHash64 of a list of strings as Envoy's HashUtil::xxHash64(Span<string_view>) computes it: each element is
 * hashed with the previous element's hash as its seed (so ["foo","bar"] differs from ["foobar"]).
 */
export function xxh64List(inputs: readonly (string | Uint8Array)[], seed: bigint = 0n): bigint {
  let h = seed;
  for (const x of inputs) h = xxh64(x, h);
  return h;
}

const MURMUR_MUL = 0xc6a4a7935bd1e995n;
/** The seed Envoy passes for MURMUR_HASH_2 (its MurmurHash::STD_HASH_SEED, the one std::hash uses). */
export const MURMUR_STD_SEED = 0xc70f6907n;

function shiftMix(v: bigint): bigint {
  return v ^ (v >> 47n);
}

/**
 * 64-bit MurmurHash2 in the variant of libstdc++'s `_Hash_bytes` (what Envoy's MurmurHash::murmurHash2 is):
 * 8-byte little-endian blocks, then the 1..7 tail bytes read as one little-endian integer.
 */
export function murmur2_64(input: string | Uint8Array, seed: bigint = MURMUR_STD_SEED): bigint {
  const b = bytesOf(input);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const len = b.byteLength;
  const aligned = len & ~7;
  let h = (seed ^ ((BigInt(len) * MURMUR_MUL) & MASK64)) & MASK64;
  for (let p = 0; p < aligned; p += 8) {
    const data = (shiftMix((dv.getBigUint64(p, true) * MURMUR_MUL) & MASK64) * MURMUR_MUL) & MASK64;
    h ^= data;
    h = (h * MURMUR_MUL) & MASK64;
  }
  if (len & 7) {
    let tail = 0n;
    for (let p = len - 1; p >= aligned; p--) tail = (tail << 8n) | BigInt(b[p]!);
    h ^= tail;
    h = (h * MURMUR_MUL) & MASK64;
  }
  h = (shiftMix(h) * MURMUR_MUL) & MASK64;
  return shiftMix(h);
}

/** 16 lowercase hex digits, zero-padded (Envoy's Hex::uint64ToHex). */
export function toHex64(h: bigint): string {
  return h.toString(16).padStart(16, '0');
}
