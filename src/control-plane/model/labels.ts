export type Labels = Readonly<Record<string, string>>;

export const NO_LABELS: Labels = Object.freeze({});

/** Kubernetes-style equality selector: every key of `selector` has that value in `labels`. An absent or empty
 *  selector selects everything. */
export function selects(selector: Labels | undefined, labels: Labels): boolean {
  if (!selector) return true;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/** Has at least one key (an empty selector is "no selector" in Istio). */
export function hasSelector(selector: Labels | undefined): selector is Labels {
  return selector !== undefined && Object.keys(selector).length > 0;
}
