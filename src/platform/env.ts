// The one place that knows which environment we run in.
export type Runtime = 'node' | 'electron-main' | 'browser' | 'worker';

export function detectRuntime(): Runtime {
  const g = globalThis as { process?: { versions?: Record<string, string> }; window?: unknown; importScripts?: unknown };
  if (g.process?.versions?.electron && g.window === undefined) return 'electron-main';
  if (g.process?.versions?.node && g.window === undefined) return 'node';
  if (g.window === undefined && typeof g.importScripts === 'function') return 'worker';
  return 'browser';
}

export const isNodeLike = (): boolean => {
  const r = detectRuntime();
  return r === 'node' || r === 'electron-main';
};

/** Debian's chromium ships a SwiftShader Vulkan ICD; Dawn in Node can use it when no GPU driver exists. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
