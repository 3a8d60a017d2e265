// A small GGUF v3 writer: used by tests (malformed files) and by scripts/ for synthetic models.
import { GGUFValueType } from './types.js';
import { tensorByteSize } from '../dtypes.js';

export type WriterValue =
  | { type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64' | 'u64' | 'i64'; value: number | bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; elem: 'string'; value: string[] }
  | { type: 'array'; elem: 'f32' | 'i32' | 'u32' | 'u8'; value: ArrayLike<number> };

export interface WriterTensor {
  name: string;
  /** ggml order: dims[0] is the row length. */
  dims: number[];
  type: number;
  data: Uint8Array;
}

const SCALAR: Record<string, [GGUFValueType, number]> = {
  u8: [GGUFValueType.UINT8, 1], i8: [GGUFValueType.INT8, 1], u16: [GGUFValueType.UINT16, 2], i16: [GGUFValueType.INT16, 2],
  u32: [GGUFValueType.UINT32, 4], i32: [GGUFValueType.INT32, 4], f32: [GGUFValueType.FLOAT32, 4], f64: [GGUFValueType.FLOAT64, 8],
  u64: [GGUFValueType.UINT64, 8], i64: [GGUFValueType.INT64, 8], bool: [GGUFValueType.BOOL, 1],
};

class Out {
  private parts: Uint8Array[] = [];
  length = 0;
  private enc = new TextEncoder();
  push(b: Uint8Array): void { this.parts.push(b); this.length += b.byteLength; }
  num(type: string, v: number | bigint | boolean): void {
    const [, size] = SCALAR[type]!;
    const b = new Uint8Array(size);
    const d = new DataView(b.buffer);
    switch (type) {
      case 'u8': d.setUint8(0, Number(v)); break;
      case 'i8': d.setInt8(0, Number(v)); break;
      case 'u16': d.setUint16(0, Number(v), true); break;
      case 'i16': d.setInt16(0, Number(v), true); break;
      case 'u32': d.setUint32(0, Number(v), true); break;
      case 'i32': d.setInt32(0, Number(v), true); break;
      case 'f32': d.setFloat32(0, Number(v), true); break;
      case 'f64': d.setFloat64(0, Number(v), true); break;
      case 'u64': d.setBigUint64(0, BigInt(v), true); break;
      case 'i64': d.setBigInt64(0, BigInt(v), true); break;
      case 'bool': d.setUint8(0, v ? 1 : 0); break;
    }
    this.push(b);
  }
  str(s: string): void {
    const b = this.enc.encode(s);
    this.num('u64', b.byteLength);
    this.push(b);
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) { out.set(p, o); o += p.byteLength; }
    return out;
  }
}

function writeValue(o: Out, v: WriterValue): void {
  if (v.type === 'string') { o.num('u32', GGUFValueType.STRING); o.str(v.value); return; }
  if (v.type !== 'array') { o.num('u32', SCALAR[v.type]![0]); o.num(v.type, v.value); return; }
  o.num('u32', GGUFValueType.ARRAY);
  if (v.elem === 'string') {
    o.num('u32', GGUFValueType.STRING);
    o.num('u64', v.value.length);
    for (const s of v.value as string[]) o.str(s);
    return;
  }
  o.num('u32', SCALAR[v.elem]![0]);
  o.num('u64', v.value.length);
  for (let i = 0; i < v.value.length; i++) o.num(v.elem, (v.value as ArrayLike<number>)[i]!);
}

/** Encodes the header; returns it with each tensor's offset relative to the data section. */
export function encodeGGUFHeader(metadata: Record<string, WriterValue>, tensors: Omit<WriterTensor, 'data'>[], alignment = 32): { header: Uint8Array; offsets: number[]; dataSize: number } {
  const o = new Out();
  o.push(new TextEncoder().encode('GGUF'));
  o.num('u32', 3);
  o.num('u64', tensors.length);
  o.num('u64', Object.keys(metadata).length);
  for (const [k, v] of Object.entries(metadata)) { o.str(k); writeValue(o, v); }
  const offsets: number[] = [];
  let off = 0;
  for (const t of tensors) {
    o.str(t.name);
    o.num('u32', t.dims.length);
    for (const d of t.dims) o.num('u64', d);
    o.num('u32', t.type);
    off = Math.ceil(off / alignment) * alignment;
    offsets.push(off);
    o.num('u64', off);
    off += tensorByteSize(t.type, t.dims.reduce((a, b) => a * b, 1));
  }
  const pad = Math.ceil(o.length / alignment) * alignment - o.length;
  o.push(new Uint8Array(pad));
  return { header: o.concat(), offsets, dataSize: off };
}

/** Writes a whole (small) GGUF into memory. */
export function writeGGUF(metadata: Record<string, WriterValue>, tensors: WriterTensor[], alignment = 32): Uint8Array {
  const { header, offsets, dataSize } = encodeGGUFHeader(metadata, tensors, alignment);
  const out = new Uint8Array(header.byteLength + dataSize);
  out.set(header, 0);
  tensors.forEach((t, i) => out.set(t.data, header.byteLength + offsets[i]!));
  return out;
}
