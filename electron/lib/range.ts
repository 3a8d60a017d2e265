// HTTP Range for one byte range (what model loaders send): `bytes=a-b`, `bytes=a-`, `bytes=-n`.
// Shared by the Electron app protocol and the web demo's dev/preview model middleware.

export type RangeResult =
  /** No Range header, or one we don't serve as a range (several ranges): send the whole file. */
  | { kind: 'full' }
  /** Send bytes [start, end] (inclusive) with 206. */
  | { kind: 'partial'; start: number; end: number }
  /** 416 with `Content-Range: bytes *\/size`. */
  | { kind: 'unsatisfiable' };

export function parseRange(header: string | null | undefined, size: number): RangeResult {
  if (!header) return { kind: 'full' };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return { kind: 'full' }; // several ranges or a unit we don't know: RFC 9110 lets us ignore it
  const [, a, b] = m;
  if (a === '' && b === '') return { kind: 'full' };
  let start: number, end: number;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return { kind: 'unsatisfiable' };
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) return { kind: 'full' }; // invalid range-spec: ignore it
  }
  if (start >= size || size === 0) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}
