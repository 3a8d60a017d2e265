// The web demo (web/): `npm run dev` serves it, `npm run build:web` builds it into dist-web/ (the
// Electron app loads that build), `npm run preview` serves the build. The library itself is built
// by tsc (`npm run build:lib`); vitest has its own config (vitest.config.ts).
import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import { fridayModels } from './web/build/models-plugin.js';
import { fridayPrecache } from './web/build/precache-plugin.js';

const repo = import.meta.dirname;

export default defineConfig({
  root: resolve(repo, 'web'),
  // Relative asset URLs: the build works from any path, and from app://friday in Electron.
  base: './',
  publicDir: resolve(repo, 'web/public'),
  // Its own dependency cache, apart from vitest's and the examples'.
  cacheDir: resolve(repo, 'node_modules/.vite/web'),
  plugins: [fridayModels({ modelsDir: resolve(repo, 'models') }), fridayPrecache()],
  server: {
    host: '127.0.0.1',
    port: 5173,
    // The app imports ../src, and models/fixtures may be reached under /@fs/.
    fs: { allow: [repo, resolve(repo, '../shared')] },
  },
  // Scan the worker too, so the first `npm run dev` does not reload the page mid-load to add deps.
  optimizeDeps: { entries: ['index.html', 'src/engine-worker.ts'], include: ['@huggingface/jinja'] },
  preview: { host: '127.0.0.1', port: 4173 },
  // The engine worker imports modules lazily (code splitting needs ES-module workers).
  worker: { format: 'es', rollupOptions: { external: ['webgpu', /^node:/] } },
  build: {
    outDir: resolve(repo, 'dist-web'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
    // Shaders are fetched at run time; as files (not data: URLs) they pass a strict CSP.
    assetsInlineLimit: 0,
    // Node-only code paths (Dawn, files by path) sit behind dynamic imports that a page never
    // takes; leave them out of the bundle.
    rollupOptions: { external: ['webgpu', /^node:/] },
  },
});
