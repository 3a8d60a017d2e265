// Flag parsing shared by the CLI commands: strict, so a typo is an error, not a silent default.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FridayError } from '../api/errors.js';

export type Flags = Record<string, string | boolean | undefined>;

export function parseFlags(argv: string[], options: NonNullable<ParseArgsConfig['options']>): Flags {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Flags;
  } catch (e) {
    throw new FridayError('INVALID_REQUEST', (e as Error).message.split('\n')[0]!.replace(/^TypeError \[\w+\]: /, ''));
  }
}

export function requireString(flags: Flags, name: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || v === '') throw new FridayError('INVALID_REQUEST', `--${name} is required.`);
  return v;
}

export function optNumber(flags: Flags, name: string, check: (n: number) => boolean, what: string): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || !check(n)) {
    throw new FridayError('INVALID_REQUEST', `--${name} must be ${what}, got "${String(v)}".`);
  }
  return n;
}

export const isInt = (lo: number, hi = Number.MAX_SAFE_INTEGER) => (n: number) => Number.isInteger(n) && n >= lo && n <= hi;
export const inRange = (lo: number, hi: number) => (n: number) => n >= lo && n <= hi;
