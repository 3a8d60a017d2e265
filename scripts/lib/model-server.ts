// A small HTTP server for model files on 127.0.0.1, for tests and manual checks of the URL source:
// honours Range (or not), sends an ETag, and can misbehave on purpose (drop connections, truncate,
// fail with 503). Every request is logged with the bytes it was sent.
import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServeBehaviour {
  /** Honour Range requests. Default true. */
  range?: boolean;
  /** Send an ETag. Default true. */
  etag?: boolean;
  /** The next `drops` responses are cut (socket destroyed) after `dropAfter` body bytes. */
  drops?: number;
  dropAfter?: number;
  /** The next `stalls` responses stop sending after `stallAfter` body bytes, keeping the connection open. */
  stalls?: number;
  stallAfter?: number;
  /** Every response ends (cleanly, short) at this file offset: a truncated upload. */
  truncateAt?: number;
  /** The next `failures` requests get HTTP 503. */
  failures?: number;
  /** Bytes per second per response (0: as fast as possible). */
  bytesPerSecond?: number;
}

export interface RequestLog {
  path: string;
  range: string | undefined;
  status: number;
  sent: number;
}

export interface ModelServer {
  /** URL of a served file by its name. */
  url(name: string): string;
  readonly log: RequestLog[];
  /** Change behaviour between (or during) requests. */
  readonly behaviour: ServeBehaviour;
  bytesSent(): number;
  close(): Promise<void>;
}

/** Serves `files` (name -> path on disk) until close(). */
export async function serveModels(files: Record<string, string>, behaviour: ServeBehaviour = {}): Promise<ModelServer> {
  const log: RequestLog[] = [];
  const server = createServer((req, res) => {
    handle(req, res, files, behaviour, log).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    log,
    behaviour,
    bytesSent: () => log.reduce((s, r) => s + r.sent, 0),
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, files: Record<string, string>, b: ServeBehaviour, log: RequestLog[]): Promise<void> {
  const name = decodeURIComponent((req.url ?? '/').slice(1).split('?')[0]!);
  const entry: RequestLog = { path: name, range: req.headers.range, status: 0, sent: 0 };
  log.push(entry);
  const path = files[name];
  if (!path) return end(res, entry, 404);
  if (b.failures) {
    b.failures--;
    return end(res, entry, 503);
  }
  const size = statSync(path).size;
  const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'accept-ranges': b.range === false ? 'none' : 'bytes' };
  if (b.etag !== false) headers.etag = `"${size}-model"`;
  let start = 0, last = size - 1, status = 200;
  const m = b.range === false ? null : /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  if (m) {
    start = Number(m[1]);
    last = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
    if (start >= size) return end(res, entry, 416, { 'content-range': `bytes */${size}` });
    status = 206;
    headers['content-range'] = `bytes ${start}-${last}/${size}`;
  }
  headers['content-length'] = last - start + 1;
  entry.status = status;
  res.writeHead(status, headers);
  if (req.method === 'HEAD') return void res.end();
  const stopAt = Math.min(last + 1, b.truncateAt ?? Infinity);
  const drop = b.drops ? (b.drops--, b.dropAfter ?? 0) : Infinity;
  const stall = b.stalls ? (b.stalls--, b.stallAfter ?? 0) : Infinity;
  if (!(await pump(res, path, start, Math.min(stopAt, start + stall), drop, b, entry))) return;
  if (stall < Infinity) return; // hold the connection open, send nothing more (the client must time out)
  if (stopAt < last + 1) res.socket?.destroy(); // short of its Content-Length: the client sees a drop
  else res.end();
}

/** Writes [start, stopAt) of the file, honouring backpressure and the drop budget; false if the connection is gone. */
async function pump(res: ServerResponse, path: string, start: number, stopAt: number, drop: number, b: ServeBehaviour, entry: RequestLog): Promise<boolean> {
  if (stopAt <= start) return true;
  const stream = createReadStream(path, { start, end: stopAt - 1, highWaterMark: 64 << 10 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let c = chunk;
      if (entry.sent + c.byteLength > drop) c = c.subarray(0, Math.max(0, drop - entry.sent));
      if (c.byteLength > 0 && !res.write(c)) {
        await new Promise<void>((r) => {
          const done = () => { res.off('drain', done); res.off('close', done); r(); };
          res.on('drain', done);
          res.on('close', done);
        });
      }
      entry.sent += c.byteLength;
      if (entry.sent >= drop) {
        res.socket?.destroy(); // a dropped connection, mid-body
        return false;
      }
      if (b.bytesPerSecond) await new Promise((r) => setTimeout(r, (1000 * c.byteLength) / b.bytesPerSecond!));
      if (res.destroyed) return false;
    }
    return true;
  } finally {
    stream.destroy();
  }
}

function end(res: ServerResponse, entry: RequestLog, status: number, headers: Record<string, string> = {}): void {
  entry.status = status;
  res.writeHead(status, headers);
  res.end();
}
