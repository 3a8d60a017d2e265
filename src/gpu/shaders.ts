// WGSL lives in shaders/*.wgsl and is loaded as text. The only preprocessing is a tiny
// `#if NAME` / `#else` / `#endif` for dtype variants; sizes are WGSL `override` constants.
import { FridayError } from '../api/errors.js';
import { isNodeLike } from '../platform/env.js';

const cache = new Map<string, Promise<string>>();

function shaderUrl(name: string): URL {
  return new URL(`../../shaders/${name}.wgsl`, import.meta.url);
}

async function fetchText(name: string): Promise<string> {
  const url = shaderUrl(name);
  if (isNodeLike() && url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return readFile(url, 'utf8');
  }
  const res = await fetch(url);
  if (!res.ok) throw new FridayError('INTERNAL', `Could not load shader ${name}.wgsl (${res.status}).`);
  return res.text();
}

/** Loads a shader and inlines `#include "lib_name"` lines (shared WGSL helpers in shaders/lib_*.wgsl). */
export function loadShaderSource(name: string): Promise<string> {
  let p = cache.get(name);
  if (!p) {
    p = fetchText(name).then(async (src) => {
      const parts = await Promise.all(
        src.split('\n').map((line) => {
          const m = /^\s*#include\s+"(\w+)"/.exec(line);
          return m ? loadShaderSource(m[1]!) : line;
        }),
      );
      return parts.join('\n');
    });
    cache.set(name, p);
  }
  return p;
}

/** Keeps the lines whose `#if` conditions hold for `defines`. Nesting is supported. */
export function preprocess(src: string, defines: ReadonlySet<string>): string {
  const out: string[] = [];
  const stack: { active: boolean; parentActive: boolean }[] = [];
  const active = () => stack.length === 0 || stack[stack.length - 1]!.active;
  src.split('\n').forEach((line, i) => {
    const m = /^\s*#(if|else|endif)\b\s*(!?)(\w*)/.exec(line);
    if (!m) {
      out.push(active() ? line : '');
      return;
    }
    if (m[1] === 'if') {
      const cond = defines.has(m[3]!) !== (m[2] === '!');
      stack.push({ active: active() && cond, parentActive: active() });
    } else if (m[1] === 'else') {
      const top = stack[stack.length - 1];
      if (!top) throw new FridayError('INTERNAL', `#else without #if at shader line ${i + 1}`);
      top.active = top.parentActive && !top.active;
    } else if (!stack.pop()) {
      throw new FridayError('INTERNAL', `#endif without #if at shader line ${i + 1}`);
    }
    out.push('');
  });
  if (stack.length) throw new FridayError('INTERNAL', 'unterminated #if in shader');
  return out.join('\n');
}
