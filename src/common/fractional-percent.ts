// envoy.type.v3.FractionalPercent, compiled once: a numerator over HUNDRED / TEN_THOUSAND / MILLION, checked
// per request against one random draw.
import { ConfigError } from './errors.js';

const DENOMINATORS: Readonly<Record<string, number>> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

export interface FractionalPercent {
  readonly numerator: number;
  readonly denominator: number;
}

export interface FractionalPercentConfig {
  numerator?: number;
  denominator?: string;
}

/**
 * Validate a decoded FractionalPercent (absent fields: numerator 0, denominator HUNDRED, as in the proto). Envoy
 * silently caps a numerator above its denominator; we reject it, since "150 %" is a mistake worth reporting.
 */
export function compileFractionalPercent(cfg: FractionalPercentConfig | undefined, path: string, dflt: FractionalPercent): FractionalPercent {
  if (cfg === undefined) return dflt;
  const denominator = DENOMINATORS[cfg.denominator ?? 'HUNDRED'];
  if (denominator === undefined) throw new ConfigError('MW_CONFIG_INVALID', `${path}.denominator`, `unknown denominator ${cfg.denominator}`);
  const numerator = cfg.numerator ?? 0;
  if (!Number.isInteger(numerator) || numerator < 0) throw new ConfigError('MW_CONFIG_INVALID', `${path}.numerator`, `${numerator} is not a uint32`);
  if (numerator > denominator) {
    throw new ConfigError('MW_CONFIG_INVALID', `${path}.numerator`, `${numerator} is more than the denominator ${cfg.denominator ?? 'HUNDRED'} (${denominator}): a percentage over 100`);
  }
  return Object.freeze({ numerator, denominator });
}

export const PERCENT_100: FractionalPercent = Object.freeze({ numerator: 100, denominator: 100 });
export const PERCENT_0: FractionalPercent = Object.freeze({ numerator: 0, denominator: 100 });

/** Envoy's featureEnabled: a uniform draw in [0, denominator) below the numerator. */
export function percentHit(p: FractionalPercent, random: () => number = Math.random): boolean {
  if (p.numerator >= p.denominator) return true;
  if (p.numerator === 0) return false;
  return Math.floor(random() * p.denominator) < p.numerator;
}
