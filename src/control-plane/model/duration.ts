// Durations as Istio users write them ("7s", "500ms", "1m30s", "1.5s", "1h") → milliseconds, and
// milliseconds → protobuf Duration JSON ("7s", "0.500s") for Envoy resources.

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
const PART = /(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)/y;

/** Milliseconds of a Go/Istio duration string; undefined when it does not parse (validation rejects those
 *  before they reach the model). */
export function parseDuration(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === '0') return 0;
  let ms = 0;
  PART.lastIndex = 0;
  let pos = 0;
  while (pos < t.length) {
    PART.lastIndex = pos;
    const m = PART.exec(t);
    if (!m) return undefined;
    ms += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = PART.lastIndex;
  }
  return pos === 0 ? undefined : ms;
}

/** Milliseconds → protobuf Duration JSON: whole seconds as "7s", else with the fraction ("0.5s"). */
export function protoDuration(ms: number): string {
  const s = Math.round(ms) / 1000;
  return `${Number.isInteger(s) ? s : String(s)}s`;
}

/** An Istio duration string → Duration JSON (undefined stays undefined). */
export function toProtoDuration(text: string | undefined): string | undefined {
  const ms = parseDuration(text);
  return ms === undefined ? undefined : protoDuration(ms);
}
