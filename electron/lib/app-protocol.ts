// The app:// protocol handler: serves the built web demo (dist-web/) to the renderer with the CSP
// header, from files streamed off disk, with single-range Range support. A plain
// (Request) => Response function: main passes it to protocol.handle('app', ...).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { parseRange } from './range.js';
import { APP_HOST } from './security.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wgsl': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.gguf': 'application/octet-stream',
  '.map': 'application/json',
};

export interface AppHandlerOptions {
  /** The directory served (the built web demo). */
  root: string;
  /** The Content-Security-Policy header of every response. */
  csp: string;
}

function text(status: number, body: string, headers: Record<string, string>): Response {
  return new Response(body, { status, headers: { ...headers, 'content-type': 'text/plain; charset=utf-8' } });
}

export function createAppHandler(opts: AppHandlerOptions): (request: Request) => Promise<Response> {
  const root = resolve(opts.root);
  const base = {
    'content-security-policy': opts.csp,
    'x-content-type-options': 'nosniff',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-cache',
  };
  return async (request) => {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return text(400, 'bad request', base);
    }
    if (url.host !== APP_HOST) return text(404, 'not found', base);
    if (request.method !== 'GET' && request.method !== 'HEAD') return text(405, 'method not allowed', { ...base, allow: 'GET, HEAD' });
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return text(400, 'bad path', base);
    }
    if (path.includes('\0')) return text(400, 'bad path', base);
    if (path.endsWith('/')) path += 'index.html';
    const file = resolve(root, `.${path}`);
    if (file !== root && !file.startsWith(root + sep)) return text(404, 'not found', base);
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) return text(404, 'not found', base);
    const headers: Record<string, string> = {
      ...base,
      'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'accept-ranges': 'bytes',
    };
    const range = parseRange(request.headers.get('range'), st.size);
    if (range.kind === 'unsatisfiable') return new Response(null, { status: 416, headers: { ...headers, 'content-range': `bytes */${st.size}` } });
    const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, st.size - 1];
    const length = st.size === 0 ? 0 : end - start + 1;
    headers['content-length'] = String(length);
    if (range.kind === 'partial') headers['content-range'] = `bytes ${start}-${end}/${st.size}`;
    const status = range.kind === 'partial' ? 206 : 200;
    if (request.method === 'HEAD' || length === 0) return new Response(null, { status, headers });
    const body = Readable.toWeb(createReadStream(file, { start, end })) as ReadableStream<Uint8Array>;
    return new Response(body, { status, headers });
  };
}
