// Chat for the default model's corpus: a few user requests answered with a story (stories.ts),
// plus greetings and thanks. Roles as in OpenAI messages.
import { PLOTS, story, type Plot, type StoryOptions } from './stories.js';
import { an, Dice, makeHero } from './writer.js';
import * as W from './words.js';

export interface Message { role: 'user' | 'assistant'; content: string }

const INTROS = ['Sure! Here is a story for you.', 'Here is a short story.', 'Of course! Here is a story.', 'Okay! Here is a little story.'];
const HELLO_USER = ['Hello!', 'Hi!', 'Hi there!', 'Hello, how are you?', 'Good morning!'];
const HELLO_BOT = [
  'Hello! I am Friday. I like to tell short stories. What should my story be about?',
  'Hi! I am Friday, a small model that tells stories. Do you want to hear one?',
  'Hello! I am happy to see you. I can tell you a story about animals, friends or toys.',
];
const WHO_USER = ['Who are you?', 'What are you?', 'What can you do?'];
const WHO_BOT = [
  'I am Friday, a very small language model. I know how to tell simple stories for children.',
  'I am Friday. I tell short stories about kind children, animals and their friends.',
];
const THANKS_USER = ['Thank you!', 'Thanks!', 'That was a nice story.', 'I liked that story.'];
const THANKS_BOT = ['You are welcome! I am glad you liked it.', 'You are welcome! Do you want another story?', 'Thank you! I like telling stories.'];

const PLOT_TOPICS: Record<Plot, string[]> = {
  lost: ['a lost toy', 'losing something'], share: ['sharing', 'a toy and a friend'], fear: ['being brave', 'being scared'],
  help: ['helping an animal', 'being kind to animals'], try: ['never giving up', 'learning something new'],
  listen: ['listening to mom', 'a lesson'], gift: ['a birthday gift', 'making a gift'], rain: ['a rainy day'],
  friend: ['making a new friend', 'friendship'], picnic: ['a picnic', 'sharing food'],
};

function request(d: Dice): { ask: string; opts: StoryOptions } {
  const r = d.int(5);
  if (r === 0) {
    const hero = makeHero(d);
    return { ask: d.pick([`Tell me a story about ${an(hero.kind.noun)} named ${hero.name}.`, `Can you tell me a story about ${an(hero.kind.noun)} called ${hero.name}?`]), opts: { hero } };
  }
  if (r === 1) {
    const hero = makeHero(d, { animal: true });
    return { ask: d.pick([`Tell me a story about ${an(hero.kind.noun)}.`, `Write a short story about ${an(hero.adj)} ${hero.kind.noun}.`]), opts: { hero } };
  }
  if (r === 2) {
    const plot = d.pick(PLOTS);
    return { ask: d.pick([`Tell me a story about ${d.pick(PLOT_TOPICS[plot])}.`, `Can you write a story about ${d.pick(PLOT_TOPICS[plot])}?`]), opts: { plot } };
  }
  if (r === 3) {
    const toy = d.pick(W.TOYS);
    return { ask: d.pick([`Tell me a story about ${an(toy.noun)}.`, `Write a story with ${an(toy.noun)} in it.`]), opts: { toy, plot: d.pick(['lost', 'share'] as const) } };
  }
  return { ask: d.pick(['Tell me a story.', 'Please tell me a story.', 'Can you tell me a bedtime story?', 'I want to hear a story.']), opts: {} };
}

export function chat(d: Dice): Message[] {
  const msgs: Message[] = [];
  if (d.chance(0.3)) {
    msgs.push({ role: 'user', content: d.pick(HELLO_USER) }, { role: 'assistant', content: d.pick(HELLO_BOT) });
  } else if (d.chance(0.15)) {
    msgs.push({ role: 'user', content: d.pick(WHO_USER) }, { role: 'assistant', content: d.pick(WHO_BOT) });
  }
  if (msgs.length === 0 || d.chance(0.8)) {
    const r = request(d);
    msgs.push({ role: 'user', content: r.ask }, { role: 'assistant', content: `${d.pick(INTROS)}\n${story(d, r.opts)}` });
    if (d.chance(0.3)) msgs.push({ role: 'user', content: d.pick(THANKS_USER) }, { role: 'assistant', content: d.pick(THANKS_BOT) });
  }
  return msgs;
}

/** Every distinct lowercase word the generator can produce (for tests: is the output real words?). */
export function corpusWords(samples = 3000, seed = 12345): Set<string> {
  const d = new Dice(seed);
  const words = new Set<string>();
  const add = (s: string) => { for (const m of s.toLowerCase().matchAll(/[a-z]+(?:'[a-z]+)?/g)) words.add(m[0]); };
  for (let i = 0; i < samples; i++) add(story(d));
  for (let i = 0; i < samples / 10; i++) for (const m of chat(d)) add(m.content);
  const lists: unknown[] = Object.values(W);
  const walk = (v: unknown): void => {
    if (typeof v === 'string') add(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(lists);
  return words;
}
