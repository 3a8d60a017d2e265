// Bundles the Electron main process (ESM, dist-electron/main.js) and the sandboxed preload
// (CommonJS, dist-electron/preload.cjs) with Vite's build API. npm dependencies stay external
// (main loads them from node_modules); 'electron' is provided by the runtime.
// Usage: node electron/build.mjs [outDir]
import { builtinModules } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(root, process.argv[2] ?? 'dist-electron');
const external = ['electron', 'undici', 'webgpu', '@huggingface/jinja', ...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

const common = (entry, format, fileName) => ({
  configFile: false,
  root,
  logLevel: 'warn',
  build: {
    outDir,
    emptyOutDir: false,
    ssr: entry,
    target: 'node20',
    minify: false,
    sourcemap: true,
    rollupOptions: { external, output: { format, entryFileNames: fileName, inlineDynamicImports: true } },
  },
});

await build(common(resolve(root, 'electron/main.ts'), 'es', 'main.js'));
await build(common(resolve(root, 'electron/preload.ts'), 'cjs', 'preload.cjs'));
console.log(`built ${outDir}/main.js and preload.cjs`);
