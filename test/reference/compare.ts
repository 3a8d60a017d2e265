// Tolerance comparison for GPU-vs-reference tests. On failure the message names the first bad
// element (flat index and its coordinates in the shape), both values, the tolerance it broke,
// how many elements are bad and where the worst one is: enough to tell a layout bug (everything
// off from some row on) from an accumulation-order wobble (a few elements just over).

export interface CloseOptions {
  atol?: number; // default 1e-5
  rtol?: number; // default 1e-4; an element passes if |a - e| <= atol + rtol * |e|
  label?: string; // what is compared, e.g. 'matmul Q8_0 [4,128]x[128,384]'
  shape?: readonly number[]; // row-major shape of the data, to print coordinates
}

export interface Mismatch {
  index: number;
  actual: number;
  expected: number;
  diff: number; // |actual - expected| (Infinity when exactly one side is NaN or an infinity differs)
  tol: number; // atol + rtol * |expected|
}

type Numbers = ArrayLike<number>;

function isBad(a: number, e: number, atol: number, rtol: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(e)) return !(Number.isNaN(a) && Number.isNaN(e));
  if (a === e) return false; // also equal infinities
  return !(Math.abs(a - e) <= atol + rtol * Math.abs(e));
}

function mismatchAt(actual: Numbers, expected: Numbers, i: number, atol: number, rtol: number): Mismatch {
  const a = actual[i]!, e = expected[i]!;
  const diff = Number.isFinite(a - e) ? Math.abs(a - e) : Infinity;
  return { index: i, actual: a, expected: e, diff, tol: atol + rtol * Math.abs(e) };
}

/** The first element outside tolerance, or null. Throws on a length mismatch. */
export function firstMismatch(actual: Numbers, expected: Numbers, opts: CloseOptions = {}): Mismatch | null {
  const { atol = 1e-5, rtol = 1e-4 } = opts;
  checkLengths(actual, expected, opts);
  for (let i = 0; i < expected.length; i++) {
    if (isBad(actual[i]!, expected[i]!, atol, rtol)) return mismatchAt(actual, expected, i, atol, rtol);
  }
  return null;
}

/** Exact comparison (token ids, integer buffers): first differing index or -1; a length
 *  difference counts as a difference at min(length). */
export function firstDifference(actual: Numbers, expected: Numbers): number {
  const n = Math.min(actual.length, expected.length);
  for (let i = 0; i < n; i++) if (actual[i] !== expected[i]) return i;
  return actual.length === expected.length ? -1 : n;
}

export function maxAbsDiff(actual: Numbers, expected: Numbers): { index: number; diff: number } {
  let index = -1, diff = 0;
  for (let i = 0; i < Math.min(actual.length, expected.length); i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= diff)) { diff = d; index = i; } // NaN counts as worst
  }
  return { index, diff };
}

/** Coordinates of flat index i in a row-major shape: "[2, 17]". */
export function coords(i: number, shape: readonly number[] | undefined): string {
  if (!shape || shape.length === 0) return `[${i}]`;
  const out: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    out.unshift(i % shape[d]!);
    i = Math.floor(i / shape[d]!);
  }
  return `[${out.join(', ')}]`;
}

export function assertClose(actual: Numbers, expected: Numbers, opts: CloseOptions = {}): void {
  const { atol = 1e-5, rtol = 1e-4, shape } = opts;
  const first = firstMismatch(actual, expected, opts);
  if (!first) return;
  let bad = 0;
  for (let i = 0; i < expected.length; i++) if (isBad(actual[i]!, expected[i]!, atol, rtol)) bad++;
  const worst = maxAbsDiff(actual, expected);
  const where = (i: number) => `index ${i}${shape ? ` ${coords(i, shape)} of shape [${shape.join(', ')}]` : ''}`;
  throw new Error(
    `${opts.label ?? 'assertClose'}: first mismatch at ${where(first.index)}: actual ${first.actual}, expected ${first.expected} ` +
    `(|diff| ${first.diff.toExponential(3)} > atol ${atol} + rtol ${rtol} * |expected| = ${first.tol.toExponential(3)}); ` +
    `${bad} of ${expected.length} elements out of tolerance; max |diff| ${worst.diff.toExponential(3)} at ${where(worst.index)} ` +
    `(actual ${actual[worst.index]}, expected ${expected[worst.index]})`,
  );
}

function checkLengths(actual: Numbers, expected: Numbers, opts: CloseOptions): void {
  if (actual.length !== expected.length) {
    const shape = opts.shape ? ` (shape [${opts.shape.join(', ')}])` : '';
    throw new Error(`${opts.label ?? 'assertClose'}: length mismatch: actual ${actual.length}, expected ${expected.length}${shape}`);
  }
}
