// What the fault tests record of each request they send under a fault, and the figures
// they judge those records by.

export interface Sample<Kind extends string> {
  kind: Kind;
  started: number;
  ms: number;
  status: number;
  retryAfter: string | null;
  error?: string;
  token?: string;
}

/** The p-th percentile (nearest rank) of some durations. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}
