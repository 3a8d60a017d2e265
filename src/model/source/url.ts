// An http(s) URL read with Range requests, so the header can be read without the whole file.
import { FridayError } from '../../api/errors.js';
import type { ByteSource } from './types.js';

export class UrlSource implements ByteSource {
  private constructor(readonly name: string, readonly size: number, private readonly etag: string | undefined) {}

  static async open(url: string, signal?: AbortSignal): Promise<UrlSource> {
    let res: Response;
    try {
      res = await fetch(url, { method: 'HEAD', signal });
    } catch (e) {
      throw new FridayError('IO_ERROR', `Cannot reach ${url}: ${(e as Error).message}`, { url }, { cause: e });
    }
    if (!res.ok) throw new FridayError('IO_ERROR', `Cannot fetch ${url}: HTTP ${res.status}.`, { url, status: res.status });
    const size = Number(res.headers.get('content-length'));
    if (!Number.isFinite(size) || size <= 0) throw new FridayError('IO_ERROR', `${url} did not report a Content-Length; Friday needs it to read the model in ranges.`, { url });
    return new UrlSource(url, size, res.headers.get('etag') ?? undefined);
  }

  get version(): string | undefined {
    return this.etag;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const end = Math.min(offset + length, this.size) - 1;
    if (end < offset) return new Uint8Array(0);
    const res = await fetch(this.name, { headers: { range: `bytes=${offset}-${end}`, ...(this.etag ? { 'if-range': this.etag } : {}) }, signal });
    if (res.status !== 206 && !(res.status === 200 && offset === 0 && end === this.size - 1)) {
      throw new FridayError('IO_ERROR', `${this.name} does not serve byte ranges (HTTP ${res.status}); Friday needs Range support.`, { url: this.name, status: res.status });
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.byteLength !== end - offset + 1) throw new FridayError('IO_ERROR', `${this.name}: expected ${end - offset + 1} bytes at ${offset}, got ${bytes.byteLength}.`, { url: this.name, offset });
    return bytes;
  }

  async close(): Promise<void> {}
}
