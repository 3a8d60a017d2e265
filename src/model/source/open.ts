// Turns whatever the caller has (a path, a URL, a File/Blob, bytes, a ByteSource) into a ByteSource.
import { FridayError } from '../../api/errors.js';
import { isNodeLike } from '../../platform/env.js';
import { BlobSource } from './blob.js';
import { BytesSource } from './bytes.js';
import type { ByteSource } from './types.js';

export type ModelInput = string | URL | Blob | Uint8Array | ByteSource;

function isByteSource(x: unknown): x is ByteSource {
  return typeof x === 'object' && x !== null && typeof (x as ByteSource).read === 'function' && typeof (x as ByteSource).size === 'number';
}

export async function openSource(input: ModelInput): Promise<ByteSource> {
  if (isByteSource(input)) return input;
  if (input instanceof Uint8Array) return new BytesSource(input);
  if (typeof Blob !== 'undefined' && input instanceof Blob) return new BlobSource(input);
  const s = input instanceof URL ? input.href : input;
  if (typeof s === 'string' && /^https?:\/\//i.test(s)) {
    const { UrlSource } = await import('./url.js');
    return UrlSource.open(s);
  }
  if (typeof s === 'string' && isNodeLike()) {
    const { FileSource } = await import('./file.js');
    return FileSource.open(s.startsWith('file:') ? new URL(s).pathname : s);
  }
  throw new FridayError('INVALID_REQUEST', `Cannot open model ${String(s)}: pass an http(s) URL, a File/Blob, bytes, or (in Node) a path.`);
}
