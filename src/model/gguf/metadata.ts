// Typed accessors over GGUF metadata, with errors that name the key.
import { FridayError } from '../../api/errors.js';
import type { GGUFValue } from './types.js';

export type Metadata = Map<string, GGUFValue>;

function bad(key: string, expected: string, v: GGUFValue | undefined): FridayError {
  const got = v === undefined ? 'missing' : `a ${Array.isArray(v) ? 'list' : typeof v}`;
  return new FridayError('GGUF_INVALID', `GGUF metadata "${key}" should be ${expected} but is ${got}. The model file is incomplete; re-convert it with a current llama.cpp.`, { key });
}

export function metaNumber(m: Metadata, key: string): number;
export function metaNumber(m: Metadata, key: string, fallback: number): number;
export function metaNumber(m: Metadata, key: string, fallback?: number): number {
  const v = m.get(key);
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw bad(key, 'a number', v);
}

export function metaOptNumber(m: Metadata, key: string): number | undefined {
  return m.has(key) ? metaNumber(m, key) : undefined;
}

export function metaString(m: Metadata, key: string): string;
export function metaString(m: Metadata, key: string, fallback: string): string;
export function metaString(m: Metadata, key: string, fallback?: string): string {
  const v = m.get(key);
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v === 'string') return v;
  throw bad(key, 'a string', v);
}

export function metaBool(m: Metadata, key: string, fallback: boolean): boolean {
  const v = m.get(key);
  if (v === undefined) return fallback;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  throw bad(key, 'a boolean', v);
}

export function metaStrings(m: Metadata, key: string): string[] | undefined {
  const v = m.get(key);
  if (v === undefined) return undefined;
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
  throw bad(key, 'a list of strings', v);
}

/** A numeric array as Float32Array/Int32Array (whatever integer width the file used). */
export function metaNumbers(m: Metadata, key: string): ArrayLike<number> | undefined {
  const v = m.get(key);
  if (v === undefined) return undefined;
  if (ArrayBuffer.isView(v) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array)) return v as unknown as ArrayLike<number>;
  if (Array.isArray(v) && v.every((s) => typeof s === 'number')) return v as number[];
  throw bad(key, 'a list of numbers', v);
}
