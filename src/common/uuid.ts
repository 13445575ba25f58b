// Random (version 4) UUIDs for x-request-id.
//
// Why not crypto.randomUUID(): it caches its entropy too, but builds each UUID by concatenating ~20 small
// strings (~1.5k instructions per request). Here the 36 characters are computed from random 32-bit words and
// handed to one String.fromCharCode call, which allocates the finished string directly. The words come from
// the CSPRNG (randomFillSync) in 4 KiB batches: one fill costs ~30k instructions whatever its size, so it is
// amortized over 256 UUIDs.
import { randomFillSync } from 'node:crypto';

const WORDS_PER_UUID = 4; // 128 random bits, of which 122 are used (RFC 9562 §5.4: 6 bits are fixed)
const POOL = WORDS_PER_UUID * 256;
const words = new Uint32Array(POOL);
let at = POOL;

/** Lowercase hex digit (char code) of bits s..s+3 of w. */
function hex(w: number, s: number): number {
  const n = (w >>> s) & 15;
  return n < 10 ? n + 48 : n + 87;
}

/** A random version 4 UUID, lowercase: xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx with V in 8, 9, a, b. */
export function randomUuid(): string {
  if (at === POOL) {
    randomFillSync(words);
    at = 0;
  }
  const a = words[at]!;
  const b = words[at + 1]!;
  const c = words[at + 2]!;
  const d = words[at + 3]!;
  at += WORDS_PER_UUID;
  // prettier-ignore
  return String.fromCharCode(
    hex(a, 28), hex(a, 24), hex(a, 20), hex(a, 16), hex(a, 12), hex(a, 8), hex(a, 4), hex(a, 0), 0x2d,
    hex(b, 28), hex(b, 24), hex(b, 20), hex(b, 16), 0x2d,
    0x34 /* version 4 */, hex(b, 12), hex(b, 8), hex(b, 4), 0x2d,
    hex(8 | (b & 3), 0) /* variant 10xx */, hex(c, 28), hex(c, 24), hex(c, 20), 0x2d,
    hex(c, 16), hex(c, 12), hex(c, 8), hex(c, 4), hex(c, 0), hex(d, 28), hex(d, 24), hex(d, 20), hex(d, 16), hex(d, 12), hex(d, 8), hex(d, 4),
  );
}
