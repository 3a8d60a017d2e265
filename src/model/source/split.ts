// Split GGUF (llama.cpp gguf-split: `name-00001-of-00003.gguf`, ...). Each part is a complete GGUF
// holding some of the tensors, with `split.no` (0-based), `split.count` and `split.tensors.count`;
// the first part carries the model metadata. We present the parts as one logical file: their
// bytes concatenated, every tensor offset moved by its part's start, so the loader streams them
// like one model.
import { FridayError } from '../../api/errors.js';
import { readGGUF } from '../gguf/reader.js';
import type { GGUFFile, GGUFTensorInfo } from '../gguf/types.js';
import { streamBytes } from './stream.js';
import type { ByteSource, StreamOptions } from './types.js';

const SPLIT_NAME = /-(\d{5})-of-(\d{5})\.gguf$/i;

/** The names of every part when `name` looks like a split part, else undefined. */
export function splitPartNames(name: string): string[] | undefined {
  const m = SPLIT_NAME.exec(name);
  if (!m) return undefined;
  const count = Number(m[2]);
  if (count < 2) return undefined;
  const base = name.slice(0, m.index);
  const tail = name.slice(m.index + m[0].length); // a URL's ?query
  return Array.from({ length: count }, (_, i) => `${base}-${String(i + 1).padStart(5, '0')}-of-${m[2]}.gguf${tail}`);
}

/** Matches split names in URLs too, where a query string may follow. */
export function splitPartNamesInUrl(url: string): string[] | undefined {
  const u = new URL(url);
  const names = splitPartNames(u.pathname);
  return names?.map((p) => {
    const v = new URL(u.href);
    v.pathname = p;
    return v.href;
  });
}

export class SplitSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  readonly remote: boolean;
  /** Byte offset of each part in the logical file. */
  readonly starts: number[];

  constructor(readonly parts: ByteSource[]) {
    if (parts.length === 0) throw new FridayError('INVALID_REQUEST', 'A split model needs at least one part.');
    this.starts = [];
    let at = 0;
    for (const p of parts) {
      this.starts.push(at);
      at += p.size;
    }
    this.size = at;
    this.name = `${parts[0]!.name} (+${parts.length - 1} parts)`;
    this.remote = parts.some((p) => p.remote);
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const end = Math.min(offset + length, this.size);
    const out = new Uint8Array(Math.max(0, end - offset));
    let done = 0;
    for await (const c of this.stream(offset, end, { signal })) {
      out.set(c, done);
      done += c.byteLength;
    }
    return out;
  }

  /** Each overlapping part's own stream, in order. */
  async *stream(start: number, end: number, opts: StreamOptions = {}): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < this.parts.length; i++) {
      const s = this.starts[i]!, p = this.parts[i]!;
      const a = Math.max(start, s), b = Math.min(end, s + p.size);
      if (a < b) yield* streamBytes(p, a - s, b - s, opts);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.close()));
  }
}

const num = (g: GGUFFile, key: string): number | undefined => {
  const v = g.metadata.get(key);
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
};

/** Reads the header of a model, merging the headers of a split model's parts. */
export async function readModelHeader(src: ByteSource, signal?: AbortSignal): Promise<GGUFFile> {
  if (!(src instanceof SplitSource)) {
    const g = await readGGUF(src, signal);
    const count = num(g, 'split.count') ?? 1;
    if (count > 1) {
      throw new FridayError('INVALID_REQUEST', `${src.name} is part ${(num(g, 'split.no') ?? 0) + 1} of a model split in ${count} files. Open the first part (…-00001-of-${String(count).padStart(5, '0')}.gguf) with all parts next to it, or pass all parts.`, { source: src.name, splitCount: count });
    }
    return g;
  }
  const headers = await Promise.all(src.parts.map((p) => readGGUF(p, signal)));
  return mergeSplitHeaders(src, headers);
}

function mergeSplitHeaders(src: SplitSource, headers: GGUFFile[]): GGUFFile {
  const n = headers.length;
  const bad = (what: string) => new FridayError('GGUF_INVALID', `Split model ${src.parts[0]!.name}: ${what}. Pass every part, each once, in order.`, { parts: src.parts.map((p) => p.name) });
  const total = num(headers[0]!, 'split.tensors.count');
  const tensors: GGUFTensorInfo[] = [];
  const names = new Set<string>();
  headers.forEach((g, i) => {
    if (num(g, 'split.count') !== n) throw bad(`part ${i + 1} (${src.parts[i]!.name}) says split.count ${num(g, 'split.count') ?? 'missing'}, but ${n} parts were given`);
    if (num(g, 'split.no') !== i) throw bad(`part ${i + 1} (${src.parts[i]!.name}) has split.no ${num(g, 'split.no') ?? 'missing'}, expected ${i}`);
    for (const t of g.tensors) {
      if (names.has(t.name)) throw bad(`tensor "${t.name}" is in more than one part`);
      names.add(t.name);
      tensors.push({ ...t, offset: t.offset + src.starts[i]! });
    }
  });
  if (total !== undefined && total !== tensors.length) throw bad(`the parts hold ${tensors.length} tensors but split.tensors.count is ${total}`);
  const first = headers[0]!;
  return { version: first.version, metadata: first.metadata, tensors, alignment: first.alignment, dataOffset: first.dataOffset, fileSize: src.size };
}
