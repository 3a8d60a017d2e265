// GGUF header reader. Reads the header in chunks from a ByteSource and validates every count,
// length and offset against the file size *before* allocating, so a hostile or truncated file
// gives GGUF_INVALID with a byte offset, never a RangeError, a hang or a huge allocation.
import { FridayError } from '../../api/errors.js';
import { ggmlTypeInfo } from '../dtypes.js';
import type { ByteSource } from '../source/types.js';
import { GGUFValueType, type GGUFFile, type GGUFTensorInfo, type GGUFValue } from './types.js';

const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
const MAX_DIMS = 4; // GGML_MAX_DIMS
const MAX_STRING_BYTES = 1 << 26; // 64 MiB: a chat template or a merge list entry is far smaller
const MAX_NESTING = 4;
const CHUNK = 1 << 20;
const DEFAULT_ALIGNMENT = 32;

// Smallest encoded size per value type: lets us reject impossible counts before looping.
const MIN_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 8, 9: 12, 10: 8, 11: 8, 12: 8 };

function invalid(offset: number, what: string, details: Record<string, unknown> = {}): FridayError {
  return new FridayError('GGUF_INVALID', `Invalid GGUF at byte ${offset}: ${what}. The file is corrupt, truncated or not a GGUF model; re-download or re-convert it.`, { offset, ...details });
}

/** A forward cursor over the source that keeps one chunk buffered. */
class Cursor {
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  private view: DataView = new DataView(new ArrayBuffer(0));
  private readonly utf8 = new TextDecoder('utf-8');

  constructor(private readonly src: ByteSource, private readonly signal?: AbortSignal) {}

  get remaining(): number {
    return this.src.size - this.pos;
  }

  /** Makes bytes [pos, pos+n) available, or throws "truncated" naming what we were reading. */
  async need(n: number, what: string): Promise<void> {
    if (n > this.remaining) throw invalid(this.pos, `expected ${what} (${n} bytes) but the file ends at byte ${this.src.size}`, { truncated: true });
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.byteLength) return;
    const len = Math.min(Math.max(n, CHUNK), this.remaining);
    const bytes = await this.src.read(this.pos, len, this.signal);
    if (bytes.byteLength < n) throw invalid(this.pos, `expected ${what} but the source returned only ${bytes.byteLength} bytes`, { truncated: true });
    this.buf = bytes;
    this.bufStart = this.pos;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private at(n: number): number {
    const o = this.pos - this.bufStart;
    this.pos += n;
    return o;
  }

  async u8(what: string): Promise<number> { await this.need(1, what); return this.view.getUint8(this.at(1)); }
  async u32(what: string): Promise<number> { await this.need(4, what); return this.view.getUint32(this.at(4), true); }
  async u64(what: string): Promise<bigint> { await this.need(8, what); return this.view.getBigUint64(this.at(8), true); }

  /** A u64 count or size that must fit in a JS number and in `limit`. */
  async count(what: string, limit: number): Promise<number> {
    const start = this.pos;
    const v = await this.u64(what);
    if (v > BigInt(limit)) throw invalid(start, `${what} is ${v}, more than the ${limit} the rest of the file could hold`, { value: v.toString() });
    return Number(v);
  }

  async string(what: string): Promise<string> {
    const len = await this.count(`length of ${what}`, Math.min(this.remaining - 8, MAX_STRING_BYTES));
    await this.need(len, what);
    const o = this.at(len);
    return this.utf8.decode(this.buf.subarray(o, o + len));
  }

  /** Copies `count` fixed-size elements into a fresh, aligned typed array. */
  async typed<T>(count: number, elemSize: number, what: string, make: (buf: ArrayBuffer) => T): Promise<T> {
    const bytes = count * elemSize;
    const out = new Uint8Array(bytes);
    for (let done = 0; done < bytes; ) {
      const n = Math.min(CHUNK, bytes - done);
      await this.need(n, what);
      const o = this.at(n);
      out.set(this.buf.subarray(o, o + n), done);
      done += n;
    }
    return make(out.buffer);
  }

  async scalar(type: number, what: string): Promise<number | bigint | boolean> {
    const size = MIN_SIZE[type]!;
    await this.need(size, what);
    const o = this.at(size);
    const v = this.view;
    switch (type) {
      case GGUFValueType.UINT8: return v.getUint8(o);
      case GGUFValueType.INT8: return v.getInt8(o);
      case GGUFValueType.UINT16: return v.getUint16(o, true);
      case GGUFValueType.INT16: return v.getInt16(o, true);
      case GGUFValueType.UINT32: return v.getUint32(o, true);
      case GGUFValueType.INT32: return v.getInt32(o, true);
      case GGUFValueType.FLOAT32: return v.getFloat32(o, true);
      case GGUFValueType.FLOAT64: return v.getFloat64(o, true);
      case GGUFValueType.BOOL: return v.getUint8(o) !== 0;
      case GGUFValueType.UINT64: return safeNumber(v.getBigUint64(o, true));
      case GGUFValueType.INT64: return safeNumber(v.getBigInt64(o, true));
    }
    throw invalid(this.pos - size, `unknown value type ${type} for ${what}`);
  }
}

function safeNumber(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}

const TYPED: Record<number, (b: ArrayBuffer) => GGUFValue> = {
  [GGUFValueType.UINT8]: (b) => new Uint8Array(b),
  [GGUFValueType.INT8]: (b) => new Int8Array(b),
  [GGUFValueType.UINT16]: (b) => new Uint16Array(b),
  [GGUFValueType.INT16]: (b) => new Int16Array(b),
  [GGUFValueType.UINT32]: (b) => new Uint32Array(b),
  [GGUFValueType.INT32]: (b) => new Int32Array(b),
  [GGUFValueType.FLOAT32]: (b) => new Float32Array(b),
  [GGUFValueType.FLOAT64]: (b) => new Float64Array(b),
  [GGUFValueType.UINT64]: (b) => new BigUint64Array(b),
  [GGUFValueType.INT64]: (b) => new BigInt64Array(b),
};

async function readValue(c: Cursor, type: number, what: string, depth: number): Promise<GGUFValue> {
  if (type === GGUFValueType.STRING) return c.string(what);
  if (type !== GGUFValueType.ARRAY) {
    if (MIN_SIZE[type] === undefined) throw invalid(c.pos - 4, `unknown value type ${type} for ${what}`, { type });
    return c.scalar(type, what);
  }
  if (depth >= MAX_NESTING) throw invalid(c.pos, `arrays nested deeper than ${MAX_NESTING} in ${what}`);
  const typeAt = c.pos;
  const elemType = await c.u32(`element type of ${what}`);
  const minSize = MIN_SIZE[elemType];
  if (minSize === undefined) throw invalid(typeAt, `unknown array element type ${elemType} for ${what}`, { type: elemType });
  const n = await c.count(`element count of ${what}`, Math.floor((c.remaining - 8) / minSize));
  const make = TYPED[elemType];
  if (make) return c.typed(n, minSize, what, make);
  if (elemType === GGUFValueType.BOOL) {
    const u8 = await c.typed(n, 1, what, (b) => new Uint8Array(b));
    return Array.from(u8, (x) => x !== 0);
  }
  const out: GGUFValue[] = [];
  for (let i = 0; i < n; i++) out.push(await readValue(c, elemType, `${what}[${i}]`, depth + 1));
  return out as GGUFValue;
}

async function readTensorInfo(c: Cursor, index: number): Promise<GGUFTensorInfo & { relOffset: bigint; at: number }> {
  const at = c.pos;
  const name = await c.string(`name of tensor ${index}`);
  const nDimsAt = c.pos;
  const nDims = await c.u32(`dimension count of tensor "${name}"`);
  if (nDims < 1 || nDims > MAX_DIMS) throw invalid(nDimsAt, `tensor "${name}" has ${nDims} dimensions; expected 1 to ${MAX_DIMS}`);
  const dims: number[] = [];
  let nElements = 1n;
  for (let d = 0; d < nDims; d++) {
    const dimAt = c.pos;
    const dim = await c.u64(`dimension ${d} of tensor "${name}"`);
    nElements *= dim;
    if (dim === 0n || nElements > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(dimAt, `tensor "${name}" dimension ${d} is ${dim}; the element count must be positive and below 2^53`);
    dims.push(Number(dim));
  }
  const typeAt = c.pos;
  const type = await c.u32(`type of tensor "${name}"`);
  const info = ggmlTypeInfo(type);
  if (!info) throw invalid(typeAt, `tensor "${name}" has unknown type id ${type}`, { tensor: name, type });
  if (dims[0]! % info.blockSize !== 0) throw invalid(typeAt, `tensor "${name}" row length ${dims[0]} is not a multiple of the ${info.name} block size ${info.blockSize}`);
  const relOffset = await c.u64(`data offset of tensor "${name}"`);
  const n = Number(nElements);
  return { name, dims, type, offset: 0, byteSize: (n / info.blockSize) * info.typeSize, nElements: n, relOffset, at };
}

/** Reads and validates a GGUF header from any ByteSource. Tensor data is not read. */
export async function readGGUF(src: ByteSource, signal?: AbortSignal): Promise<GGUFFile> {
  const c = new Cursor(src, signal);
  const magic = await c.u32('the GGUF magic');
  if (magic !== GGUF_MAGIC) throw invalid(0, `bad magic 0x${magic.toString(16).padStart(8, '0')}; expected "GGUF"`, { magic });
  const version = await c.u32('the GGUF version');
  if (version === 0x02000000 || version === 0x03000000) throw invalid(4, 'big-endian GGUF is not supported; convert the model on a little-endian machine');
  if (version !== 2 && version !== 3) throw invalid(4, `unsupported GGUF version ${version}; expected 2 or 3 (re-convert with a current llama.cpp)`, { version });

  const nTensors = await c.count('tensor count', Math.floor(c.remaining / 24));
  const nKV = await c.count('metadata count', Math.floor((c.remaining - 8) / 13));
  const metadata = new Map<string, GGUFValue>();
  for (let i = 0; i < nKV; i++) {
    const key = await c.string(`metadata key ${i}`);
    const typeAt = c.pos;
    const type = await c.u32(`value type of "${key}"`);
    if (MIN_SIZE[type] === undefined) throw invalid(typeAt, `unknown value type ${type} for metadata "${key}"`, { key, type });
    if (metadata.has(key)) throw invalid(typeAt, `duplicate metadata key "${key}"`, { key });
    metadata.set(key, await readValue(c, type, `metadata "${key}"`, 0));
  }

  const alignment = readAlignment(metadata);
  const raw = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const t = await readTensorInfo(c, i);
    if (names.has(t.name)) throw invalid(t.at, `duplicate tensor name "${t.name}"`);
    names.add(t.name);
    raw.push(t);
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const tensors = placeTensors(raw, dataOffset, alignment, src.size);
  return { version, metadata, tensors, alignment, dataOffset, fileSize: src.size };
}

function readAlignment(metadata: Map<string, GGUFValue>): number {
  const a = metadata.get('general.alignment');
  if (a === undefined) return DEFAULT_ALIGNMENT;
  if (typeof a !== 'number' || a <= 0 || (a & (a - 1)) !== 0 || a > 1 << 20) {
    throw new FridayError('GGUF_INVALID', `Invalid GGUF: general.alignment is ${String(a)}; expected a power of two. The file is corrupt.`, { alignment: String(a) });
  }
  return a;
}

/** Resolves absolute offsets and rejects misaligned, out-of-bounds or overlapping tensor data. */
function placeTensors(raw: (GGUFTensorInfo & { relOffset: bigint; at: number })[], dataOffset: number, alignment: number, fileSize: number): GGUFTensorInfo[] {
  const tensors = raw.map((t) => {
    const end = BigInt(dataOffset) + t.relOffset + BigInt(t.byteSize);
    if (end > BigInt(fileSize)) {
      throw invalid(t.at, `data of tensor "${t.name}" (${t.byteSize} bytes at data offset ${t.relOffset}) runs past the end of the file (${fileSize} bytes)`, { tensor: t.name, truncated: true });
    }
    if (t.relOffset % BigInt(alignment) !== 0n) throw invalid(t.at, `data of tensor "${t.name}" at offset ${t.relOffset} is not aligned to ${alignment}`, { tensor: t.name });
    return { name: t.name, dims: t.dims, type: t.type, offset: dataOffset + Number(t.relOffset), byteSize: t.byteSize, nElements: t.nElements };
  });
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!, cur = sorted[i]!;
    if (cur.offset < prev.offset + prev.byteSize) {
      throw invalid(cur.offset, `data of tensor "${cur.name}" overlaps tensor "${prev.name}"`, { tensor: cur.name, other: prev.name });
    }
  }
  return tensors;
}
