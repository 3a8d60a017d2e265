// Statistics for the interleaved A/B benches: a difference between two clients with a confidence
// interval, so that "within 1 ms" is a claim the data can support or not.
//
// Why paired blocks: on this VM a stall (another tenant, a page-cache flush) of tens of ms hits
// every request in flight at once. At concurrency 256 that is 256 samples in one block's tail, so
// the p99 of all blocks pooled moves by the size of the stall, and one client or the other gets
// it by chance. The A and B blocks of a pair run back to back, so a drift cancels in their
// difference, and the median over pairs is not moved by the few pairs a stall fell on.
import { percentile } from '../src/remote/metrics.js';
import { rng } from '../test/reference/rng.js';

export interface Estimate {
  /** The statistic on the data. */
  value: number;
  /** 95% percentile-bootstrap interval. */
  lo: number;
  hi: number;
}

/** The median of `d` with a 95% bootstrap interval (`resamples` draws, seeded: the same data gives the same interval). */
export function medianWithCi(d: readonly number[], resamples = 4000, seed = 1): Estimate {
  const r = rng(seed);
  const meds = new Array<number>(resamples);
  const pick = new Array<number>(d.length);
  for (let k = 0; k < resamples; k++) {
    for (let i = 0; i < d.length; i++) pick[i] = d[Math.floor(r() * d.length)]!;
    meds[k] = percentile(pick, 0.5);
  }
  return { value: percentile(d, 0.5), lo: percentile(meds, 0.025), hi: percentile(meds, 0.975) };
}

/**
 * Paired difference of a per-block statistic: `stat(a[i]) − stat(b[i])` for each pair of blocks,
 * summarised by its median and a bootstrap interval for that median.
 */
export function pairedDifference<T>(a: readonly T[], b: readonly T[], stat: (block: T) => number): Estimate & { pairs: number } {
  const n = Math.min(a.length, b.length);
  const d = Array.from({ length: n }, (_, i) => stat(a[i]!) - stat(b[i]!));
  return { ...medianWithCi(d), pairs: n };
}
