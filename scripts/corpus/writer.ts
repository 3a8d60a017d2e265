// The corpus generator's tools: seeded dice, a story's hero (name, kind, pronouns, adjective) and
// the Writer that fills sentence templates from the hero and builds paragraphs (stories.ts uses
// them for every plot).
import { createRng, type Rng } from '../../src/sampling/rng.js';
import * as W from './words.js';

export class Dice {
  private readonly rng: Rng;
  constructor(seed: number) {
    this.rng = createRng(seed);
  }
  int(n: number): number {
    return Math.floor(this.rng.nextFloat() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.rng.nextFloat() < p;
  }
  /** k distinct items. */
  some<T>(xs: readonly T[], k: number): T[] {
    const pool = xs.slice();
    const out: T[] = [];
    while (out.length < k && pool.length) out.push(pool.splice(this.int(pool.length), 1)[0]!);
    return out;
  }
}

export interface Hero {
  name: string;
  kind: W.Kind;
  g: W.Gender;
  adj: string;
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
export const an = (w: string) => (/^[aeiou]/i.test(w) ? 'an ' : 'a ') + w;

export function pronouns(g: W.Gender) {
  return g === 'f' ? { he: 'she', him: 'her', his: 'her' } : { he: 'he', him: 'him', his: 'his' };
}

export function makeHero(d: Dice, opts: { animal?: boolean; kindNoun?: string; avoid?: string[] } = {}): Hero {
  const animal = opts.animal ?? d.chance(0.45);
  let kind = opts.kindNoun ? [...W.PEOPLE, ...W.ANIMALS].find((k) => k.noun === opts.kindNoun)! : animal ? d.pick(W.ANIMALS) : d.pick(W.PEOPLE);
  kind ??= d.pick(W.PEOPLE);
  const g: W.Gender = kind.noun === 'girl' ? 'f' : kind.noun === 'boy' ? 'm' : d.chance(0.5) ? 'f' : 'm';
  const pool = kind.animal ? kind.names![g] : g === 'f' ? W.GIRL_NAMES : W.BOY_NAMES;
  let name = d.pick(pool);
  for (let i = 0; i < 10 && opts.avoid?.includes(name); i++) name = d.pick(pool);
  const adj = d.pick(kind.animal ? W.ANIMAL_ADJ : W.PERSON_ADJ);
  return { name, kind, g, adj };
}

/** Builds a story paragraph by paragraph, filling {name}, {he}, {His} … from the hero. */
export class Writer {
  readonly paras: string[][] = [[]];
  readonly vars: Record<string, string>;
  constructor(readonly d: Dice, readonly hero: Hero, extra: Record<string, string> = {}) {
    const p = pronouns(hero.g);
    this.vars = { name: hero.name, kind: hero.kind.noun, ...p, ...extra };
  }
  set(k: string, v: string): void {
    this.vars[k] = v;
  }
  /** Fills a template: {key} from vars; {Key} capitalizes it. */
  t(s: string): string {
    return s.replace(/\{(\w+)\}/g, (m, k: string) => {
      const v = this.vars[k] ?? this.vars[k.charAt(0).toLowerCase() + k.slice(1)];
      if (v === undefined) throw new Error(`template key ${k} in "${s}"`);
      return k.charAt(0) === k.charAt(0).toUpperCase() ? cap(v) : v;
    });
  }
  /** Adds one sentence picked from the alternatives. */
  say(...alts: string[]): void {
    this.paras[this.paras.length - 1]!.push(cap(this.t(this.d.pick(alts))));
  }
  /** Dialogue: `"Line," said Who.` or `Who said, "Line."` */
  quote(who: string, line: string | string[], verb = 'said'): void {
    const l = this.t(Array.isArray(line) ? this.d.pick(line) : line);
    const w = this.t(who);
    const ends = l.slice(-1);
    let s: string;
    if (verb.includes(' ')) s = ends === '.' ? `"${l.slice(0, -1)}," ${w} ${verb}.` : `"${l}" ${w} ${verb}.`;
    else if (this.d.chance(0.5)) s = `${w} ${verb}, "${l}"`;
    else if (ends === '.') s = `"${l.slice(0, -1)}," ${verb} ${w}.`;
    else s = `"${l}" ${verb === 'said' && ends === '?' ? 'asked' : verb} ${w}.`;
    this.paras[this.paras.length - 1]!.push(cap(s));
  }
  para(): void {
    if (this.paras[this.paras.length - 1]!.length) this.paras.push([]);
  }
  text(): string {
    return this.paras.filter((p) => p.length).map((p) => p.join(' ')).join('\n');
  }
}
