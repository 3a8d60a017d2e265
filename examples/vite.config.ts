// Serves the repository for the examples: `npx vite -c examples/vite.config.ts`, then open
// http://127.0.0.1:5174/examples/index.html?model=/models/friday-default.gguf
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

const repo = resolve(import.meta.dirname, '..');

export default defineConfig({
  root: repo,
  publicDir: false,
  cacheDir: resolve(repo, 'node_modules/.vite/examples'),
  server: { host: '127.0.0.1', port: 5174, fs: { allow: [repo, resolve(repo, '../shared')] } },
  optimizeDeps: { entries: ['examples/index.html', 'src/worker/worker.ts'], include: ['@huggingface/jinja'] },
});
