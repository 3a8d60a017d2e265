// Writes precache.json into the build: every file of the app shell (HTML, JS chunks of the page
// and of the engine worker, CSS, WGSL shaders), for the service worker (web/public/sw.js) to
// cache at install, so the demo opens offline. Models are not listed: the library caches them in
// OPFS as they load.
import { createHash } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import type { Plugin } from 'vite';

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

export function fridayPrecache(): Plugin {
  let outDir = '';
  return {
    name: 'friday-precache',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    async closeBundle() {
      const files = (await walk(outDir))
        .map((f) => relative(outDir, f).split(sep).join('/'))
        .filter((f) => !f.endsWith('.map') && f !== 'sw.js' && f !== 'precache.json' && !f.startsWith('models/') && !f.startsWith('.vite/'))
        .sort();
      const version = createHash('sha256').update(files.join('\n')).digest('hex').slice(0, 16);
      await writeFile(join(outDir, 'precache.json'), JSON.stringify({ version, files }, null, 1));
    },
  };
}
