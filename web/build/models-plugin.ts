// Vite plugin for the demo's model files. Dev and preview: serve directories of model files at URL
// prefixes with single-range Range support (the loader reads the header, then streams weights),
// streamed from disk. Build: copy the embedded default model (if it exists yet) next to the app.
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve, sep } from 'node:path';
import type { Plugin } from 'vite';
import { parseRange } from '../../electron/lib/range.js';

export const DEFAULT_MODEL_FILE = 'friday-default.gguf';

/** Connect middleware: `mounts` maps URL prefixes ('/models/') to directories. */
export function serveFiles(mounts: Record<string, string>) {
  const list = Object.entries(mounts).map(([prefix, dir]) => [prefix, resolve(dir)] as const);
  return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    void (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return next();
      let path: string;
      try {
        path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      } catch {
        return next();
      }
      const hit = list.find(([prefix]) => path.startsWith(prefix));
      if (!hit) return next();
      const [prefix, dir] = hit;
      const file = resolve(dir, `.${sep}${path.slice(prefix.length)}`);
      if (!file.startsWith(dir + sep)) return next();
      const st = await stat(file).catch(() => undefined);
      if (!st?.isFile()) return next();
      const range = parseRange(req.headers.range, st.size);
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', 'cache-control': 'no-cache', 'last-modified': st.mtime.toUTCString() };
      if (range.kind === 'unsatisfiable') {
        res.writeHead(416, { ...headers, 'content-range': `bytes */${st.size}` });
        return res.end();
      }
      const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, st.size - 1];
      headers['content-length'] = String(st.size ? end - start + 1 : 0);
      if (range.kind === 'partial') headers['content-range'] = `bytes ${start}-${end}/${st.size}`;
      res.writeHead(range.kind === 'partial' ? 206 : 200, headers);
      if (req.method === 'HEAD' || st.size === 0) return res.end();
      const s = createReadStream(file, { start, end });
      s.on('error', () => res.destroy());
      res.on('close', () => s.destroy());
      s.pipe(res);
    })().catch(() => { if (!res.headersSent) res.writeHead(500); res.end(); });
  };
}

export interface ModelsPluginOptions {
  /** The repository's models/ directory (holds friday-default.gguf once it is trained). */
  modelsDir: string;
  /** More URL prefix → directory mounts for dev/preview (tests serve fixtures this way). */
  extraMounts?: Record<string, string>;
}

export function fridayModels(opts: ModelsPluginOptions): Plugin {
  const mounts = { '/models/': opts.modelsDir, ...opts.extraMounts };
  let outDir = '';
  return {
    name: 'friday-models',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    configureServer(server) {
      server.middlewares.use(serveFiles(mounts));
    },
    configurePreviewServer(server) {
      server.middlewares.use(serveFiles(mounts));
    },
    async closeBundle() {
      // Only the default model is embedded; copyFile streams in the kernel, nothing is read into JS.
      const src = join(opts.modelsDir, DEFAULT_MODEL_FILE);
      const st = await stat(src).catch(() => undefined);
      if (!st?.isFile() || !outDir) return;
      await mkdir(join(outDir, 'models'), { recursive: true });
      await copyFile(src, join(outDir, 'models', DEFAULT_MODEL_FILE));
      this.info?.(`embedded ${DEFAULT_MODEL_FILE} (${(st.size / 2 ** 20).toFixed(1)} MiB)`);
    },
  };
}
