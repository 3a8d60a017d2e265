// A ByteSource that lives on the main thread (a file opened by the Electron main process through
// the bridge, a model in the OPFS cache opened for offline use) served to the engine's worker over
// a MessagePort: the worker asks for byte ranges, the page answers with transferred buffers. The
// loader reads through it exactly as through a local file (header reads, then weights streamed
// with read-ahead), so only a few chunks are ever in flight.
import { FridayError, toFridayError, type FridayErrorJSON } from '../../src/api/errors.js';
import type { ByteSource } from '../../src/model/source/types.js';

/** The page → worker message that hands over a port (sent before WorkerEngine.create's init). */
export interface SourceOfferMsg {
  type: 'friday-web:source';
  /** Matches the model string `friday-port:<key>` in the init message. */
  key: string;
  port: MessagePort;
  name: string;
  size: number;
  /** Progress reports "cache" for models read back from the browser cache. */
  fromCache: boolean;
}

type ReadReq = { type: 'read'; id: number; offset: number; length: number } | { type: 'close' };
type ReadRes = { id: number; bytes: Uint8Array } | { id: number; error: FridayErrorJSON };

export const PORT_MODEL_PREFIX = 'friday-port:';

export const isSourceOffer = (x: unknown): x is SourceOfferMsg =>
  typeof x === 'object' && x !== null && (x as { type?: unknown }).type === 'friday-web:source';

/**
 * Page side: answers the worker's reads on `port` from `source` until the worker closes it; then
 * `onClose` runs (e.g. release the file in the Electron main process). Returns a disposer.
 */
export function serveSource(port: MessagePort, source: ByteSource, onClose?: () => void): () => void {
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    port.close();
    onClose?.();
  };
  port.onmessage = (ev: MessageEvent<ReadReq>) => {
    const m = ev.data;
    if (m.type === 'close') return finish();
    source.read(m.offset, m.length).then(
      (bytes) => {
        // Transfer when the view owns its buffer; otherwise copy once.
        const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice();
        if (!done) port.postMessage({ id: m.id, bytes: own } satisfies ReadRes, [own.buffer as ArrayBuffer]);
      },
      (e: unknown) => { if (!done) port.postMessage({ id: m.id, error: toFridayError(e, 'IO_ERROR').toJSON() } satisfies ReadRes); },
    );
  };
  port.start();
  return finish;
}

/** Worker side: the ByteSource the engine loads from. */
export class PortSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  readonly fromCache: boolean;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: unknown) => void }>();
  private closed = false;

  constructor(private readonly port: MessagePort, offer: Pick<SourceOfferMsg, 'name' | 'size' | 'fromCache'>) {
    this.name = offer.name;
    this.size = offer.size;
    this.fromCache = offer.fromCache;
    port.onmessage = (ev: MessageEvent<ReadRes>) => {
      const r = ev.data;
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if ('error' in r) p.reject(FridayError.fromJSON(r.error));
      else p.resolve(r.bytes);
    };
    port.start();
  }

  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new FridayError('IO_ERROR', `${this.name} is closed; open the model again.`));
    if (signal?.aborted) return Promise.reject(new FridayError('ABORTED', 'The load was aborted by the caller.'));
    const n = Math.max(0, Math.min(length, this.size - offset));
    if (n === 0) return Promise.resolve(new Uint8Array(0));
    const id = this.nextId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.port.postMessage({ type: 'read', id, offset, length: n } satisfies ReadReq);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new FridayError('IO_ERROR', `${this.name} was closed during a read.`));
    this.pending.clear();
    this.port.postMessage({ type: 'close' } satisfies ReadReq);
    this.port.close();
  }
}
