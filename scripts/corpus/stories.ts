// Procedural short stories for children, TinyStories-like: a hero, a place, a thing, a small event
// with dialogue, and an ending with a lesson. Every sentence comes from the templates below and the
// word lists in words.ts (all written for this project), chosen by a seeded generator, so the same
// seed always gives the same corpus.
import * as W from './words.js';
import { an, Dice, makeHero, pronouns, Writer, type Hero } from './writer.js';

export type Plot = 'lost' | 'share' | 'fear' | 'help' | 'try' | 'listen' | 'gift' | 'rain' | 'friend' | 'picnic';
export const PLOTS: readonly Plot[] = ['lost', 'share', 'fear', 'help', 'try', 'listen', 'gift', 'rain', 'friend', 'picnic'];

export interface StoryOptions {
  hero?: Hero;
  plot?: Plot;
  toy?: W.Thing;
}

function feel(d: Dice, f: keyof typeof W.FEELINGS): string {
  return d.pick(W.FEELINGS[f]);
}

/** "a little girl named Lily" */
function heroPhrase(h: Hero, d: Dice): string {
  return `${an(h.adj)} ${h.kind.noun} ${d.chance(0.8) ? 'named' : 'called'} ${h.name}`;
}

function opening(w: Writer): void {
  const { d, hero } = w;
  w.set('hp', heroPhrase(hero, d));
  w.say('Once upon a time, there was {hp}.', 'Once upon a time, there lived {hp}.', 'There was once {hp}.', 'Once upon a time, in a small town, there was {hp}.');
  if (hero.kind.animal && d.chance(0.6)) w.say(`{He} lived in ${hero.kind.home}.`);
  const likes = hero.kind.animal ? hero.kind.likes! : W.PERSON_LIKES;
  w.set('like', w.t(d.pick(likes)));
  w.say('{He} loved to {like}.', '{He} liked to {like} every day.', 'More than anything, {name} loved to {like}.');
}

function moral(w: Writer, lines: string[]): void {
  w.say(...lines);
  if (w.d.chance(0.08)) w.say('The end.');
}

function friendFor(w: Writer): Hero {
  const f = makeHero(w.d, { avoid: [w.hero.name] });
  const p = pronouns(f.g);
  w.set('f', f.name);
  w.set('fhe', p.he);
  w.set('fhim', p.him);
  w.set('fhis', p.his);
  w.set('fp', heroPhrase(f, w.d));
  return f;
}

function toyFor(w: Writer, toy?: W.Thing): W.Thing {
  const t = toy ?? w.d.pick(W.TOYS);
  w.set('toy', t.noun);
  w.set('tadj', w.d.pick(t.adjs));
  w.set('tadj_a', an(w.vars.tadj!));
  w.set('use', t.use);
  w.set('used', t.used);
  return t;
}

function placeFor(w: Writer, outside?: boolean): W.Place {
  const p = w.d.pick(outside === undefined ? W.PLACES : W.PLACES.filter((x) => x.outside === outside));
  w.set('to', p.to);
  w.set('at', p.at);
  const [t1, t2] = w.d.some(p.things, 2);
  w.set('thing', t1!);
  w.set('thing2', t2!);
  return p;
}

const parentWord = (d: Dice) => d.pick(['mom', 'dad', 'mom', 'grandma']);
function parentFor(w: Writer): void {
  const p = parentWord(w.d);
  w.set('parent', p);
  w.set('phe', p === 'dad' ? 'he' : 'she');
}

// ------------------------------------------------------------------------------------------------
// Plots

function lost(w: Writer, toy?: W.Thing): void {
  const { d } = w;
  opening(w);
  toyFor(w, toy);
  w.say('{His} favorite toy was {tadj_a} {toy}.', '{Name} had {tadj_a} {toy} that {he} loved very much.');
  w.say('{He} took it everywhere.', '{He} took it with {him} everywhere {he} went.', 'Every day, {he} would {use}.');
  w.para();
  const place = placeFor(w, true);
  const spots = d.some(place.spots, 3);
  w.set('time', d.pick(W.TIMES));
  w.say('{Time}, {name} went to {to} with {his} {toy}.', '{Time}, {name} took {his} {toy} to {to}.');
  w.say('{He} played near {thing} and had lots of fun.', 'There were {thing} and {thing2} to see.', '{He} ran and played near {thing}.');
  w.say('When it was time to go home, {name} looked for {his} {toy}, but it was gone!', 'But when {he} wanted to {use}, the {toy} was not there!', 'Then {name} looked down. {His} {toy} was gone!');
  w.set('sad', feel(d, 'sad'));
  w.say('{Name} felt {sad}.', '{Name} was {sad} and began to cry.', 'Tears came to {his} eyes.');
  w.quote('{name}', ['Where is my {toy}?', 'Oh no! I lost my {toy}!', 'I can not find my {toy}!']);
  w.para();
  friendFor(w);
  w.say('Just then, {fp} came by.', 'Soon, {his} friend {f} came to see what was wrong.', 'Then {fp} saw {name} and walked over.');
  w.quote('{f}', ['Why are you sad, {name}?', 'What is wrong?', 'Why are you crying?']);
  w.quote('{name}', ['I lost my {toy}.', 'My {toy} is gone, and I can not find it.']);
  w.quote('{f}', ['Do not worry. I will help you look for it.', 'Let us look for it together.', 'Don\'t be sad. We can find it together.']);
  w.set('s1', spots[0]!);
  w.set('s2', spots[1]!);
  w.set('s3', spots[2]!);
  w.say('They looked {s1}, but it was not there.', 'First they looked {s1}. Nothing.');
  w.say('They looked {s2}, but it was not there either.', 'Then they looked {s2}. Still nothing.');
  w.say('Then {f} saw something {s3}.', 'At last, {f} saw something {s3}.', 'Suddenly, {name} saw something {s3}.');
  w.quote('{f}', ['Look! Is that your {toy}?', 'There it is!', 'I found it!'], 'shouted');
  w.say('It was the {toy}!', 'It was {name}\'s {tadj} {toy}!');
  w.para();
  w.set('happy', feel(d, 'happy'));
  w.say('{Name} was {happy}.', '{Name} hugged {his} {toy} and smiled.', '{Name} jumped up and down.');
  w.quote('{name}', ['Thank you, {f}! You are a good friend.', 'Thank you so much, {f}!', 'You are the best friend ever, {f}!']);
  moral(w, [
    'From that day on, {name} and {f} were best friends.',
    '{Name} learned that friends help each other.',
    'After that, {name} always kept the {toy} close when {he} played.',
    'They walked home together, and {name} held the {toy} tight all the way.',
  ]);
}

function share(w: Writer, toy?: W.Thing): void {
  const { d } = w;
  opening(w);
  toyFor(w, toy);
  w.set('giver', d.pick(['grandma', 'grandpa', 'mom', 'dad', 'an aunt']));
  w.say('{Time}, {name} got {tadj_a} {toy} from {giver}.'.replace('{Time}', d.pick(W.TIMES)), 'For {his} birthday, {name} got {tadj_a} {toy}.');
  w.say('{He} loved it very much.', '{He} did not want to let go of it.', 'It was the best toy {he} ever had.');
  w.para();
  placeFor(w, true);
  friendFor(w);
  w.say('{Name} took the {toy} to {to}.', 'The next day, {name} went to {to} with the {toy}.');
  w.say('There, {he} met {his} friend {f}.', 'There, {he} saw {fp}.');
  w.quote('{f}', ['Can I play with your {toy}?', 'Wow, what a nice {toy}! Can I {use} too?', 'May I have a turn?']);
  w.quote('{name}', ['No! It is mine.', 'No, it is my {toy}!', 'No. I want to {use} by myself.']);
  w.say('{F} felt sad and walked away.', '{F} looked down and walked away slowly.');
  w.say('{Name} played with the {toy} alone, but it was not much fun.', '{Name} tried to {use} alone, but soon {he} felt bored and lonely.');
  w.para();
  w.say('{Name} thought about {f}.', '{Name} looked at {f}, who was sitting all alone.');
  w.say('{He} felt bad inside.', '{He} knew {he} had not been kind.');
  w.say('{He} walked over to {f}.', 'So {he} ran to {f}.');
  w.quote('{name}', ['I am sorry, {f}. Do you want to play with my {toy} together?', 'I am sorry. Let us share the {toy}.', 'Here, you can have a turn. I am sorry.']);
  w.quote('{f}', ['Yes, please!', 'Thank you, {name}!', 'Yes! That would be fun!']);
  w.say('They took turns and {used} together all afternoon.', 'They {used} together and laughed a lot.');
  w.para();
  moral(w, [
    '{Name} learned that sharing makes playing more fun.',
    'Playing together was much better than playing alone.',
    'From that day on, {name} always shared {his} toys with {his} friends.',
    '{Name} was happy, and so was {f}. Sharing made them both smile.',
  ]);
}

function fear(w: Writer): void {
  const { d } = w;
  opening(w);
  const f = d.pick(W.FEARS);
  parentFor(w);
  w.set('of', f.of);
  w.say('But {name} was afraid of {of}.', 'There was one thing {name} did not like. {He} was scared of {of}.', 'But {name} had a secret. {He} was afraid of {of}.');
  w.para();
  w.say(f.scary);
  w.set('scared', feel(d, 'scared'));
  w.say('{Name} felt {scared}.', '{Name} hid under the blanket.', '{Name} started to shake.');
  w.quote('{name}', ['I am scared!', 'I do not like {of}!', '{Parent}, help me!'], d.pick(['cried', 'said']));
  w.para();
  w.say('{His} {parent} came and sat next to {him}.', '{His} {parent} heard {him} and came over.', '{His} {parent} gave {him} a big hug.');
  w.quote('{his} {parent}', [f.calm, `Do not be afraid, my dear. ${f.calm}`]);
  w.quote('{his} {parent}', ['Let us try together.', 'I am right here with you.', 'You are braver than you think.']);
  w.say(f.reveal);
  w.para();
  w.say('{Name} smiled. {He} was not scared anymore.', '{Name} took a deep breath and smiled.', '{Name} felt brave and happy.');
  moral(w, [
    'From that day on, {name} was never afraid of {of} again.',
    '{Name} learned that being brave is easier with someone you love.',
    'Now {name} knew that there was nothing to be scared of.',
    '{Name} learned that things are not so scary when you look at them closely.',
  ]);
}

function help(w: Writer): void {
  const { d, hero } = w;
  opening(w);
  const hurt = d.pick(W.HURTS.filter((h) => h.animal !== hero.kind.noun));
  w.para();
  placeFor(w, true);
  w.set('time', d.pick(W.TIMES));
  w.set('an', hurt.animal);
  w.say('{Time}, {name} was walking {at}.', '{Time}, {name} went to play {at}.');
  w.say('Suddenly, {he} heard a small sound.', 'Then {he} saw something move near {thing}.', 'On the way, {he} heard a little cry.');
  w.say(`It was a little {an} with ${hurt.hurt}.`, `There was a little {an}. It had ${hurt.hurt}.`);
  w.quote('{name}', ['Oh no! Poor little {an}. I will help you.', 'Do not worry, little {an}. I will take care of you.', 'You poor thing! Let me help you.']);
  w.para();
  w.say(`{Name} ${hurt.care}.`, `Gently, {name} ${hurt.care}.`);
  w.say('Every day, {name} took care of the {an}.', '{Name} checked on the {an} again and again.');
  w.say(`After a few days, ${hurt.heal}.`, `Soon, ${hurt.heal}.`);
  w.say(`Then the {an} ${hurt.leave}.`, `At last, the {an} ${hurt.leave}.`);
  w.set('happy', feel(d, 'happy'));
  w.say('{Name} waved goodbye. {He} felt {happy} because {he} had helped.', '{Name} was {happy} to see the {an} well again.');
  w.para();
  moral(w, [
    '{Name} learned that helping others feels good.',
    'Being kind to animals makes the world a better place.',
    'From that day on, {name} always looked out for animals that needed help.',
    'Sometimes, a little kindness can make a big difference.',
  ]);
}

function tryAgain(w: Writer): void {
  const { d } = w;
  opening(w);
  const s = d.pick(W.SKILLS);
  w.set('skill', s.skill);
  w.say('{Name} wanted to learn to {skill}.', 'But there was one thing {name} could not do yet. {He} could not {skill}.', '{Name} wanted to {skill} like the big kids.');
  w.para();
  w.say(`{Time}, {he} ${s.try}.`.replace('{Time}', d.pick(W.TIMES)));
  w.say(s.fail);
  w.set('sad', feel(d, 'sad'));
  w.say('{Name} felt {sad}.', '{Name} sat down and frowned.');
  w.quote('{name}', ['I can not do it!', 'It is too hard!', 'I will never learn to {skill}!']);
  w.para();
  if (d.chance(0.5)) {
    parentFor(w);
    w.set('helper', w.t('{his} {parent}'));
  } else {
    friendFor(w);
    w.set('helper', w.t('{his} friend {f}'));
  }
  w.say('Then {helper} came over.', 'Just then, {helper} saw {him}.');
  w.quote('{helper}', ['Do not give up. Try again!', 'Everyone falls at first. Try one more time.', 'You can do it if you keep trying.']);
  w.say('So {name} tried again.', '{Name} got up and tried again.');
  if (d.chance(0.6)) w.say(s.fail, 'It did not work this time either.');
  w.say('{Name} took a deep breath and tried one more time.', '{He} did not give up. {He} tried again and again.');
  w.say(s.succeed);
  w.para();
  w.set('proud', feel(d, 'proud'));
  w.quote('{name}', ['I did it! I did it!', 'Look! I can {skill}!', 'Yay! I did it!'], d.pick(['shouted', 'said', 'cried']));
  w.say('{Name} was {proud}.', '{Helper} clapped and cheered.');
  moral(w, [
    '{Name} learned that if you keep trying, you can do it.',
    'Trying again is how everyone learns.',
    'From that day on, {name} never gave up when things were hard.',
    '{Name} learned that practice makes things easier.',
  ]);
}

function listen(w: Writer): void {
  const { d } = w;
  opening(w);
  const g = d.pick(W.DANGERS);
  w.para();
  w.set('did', w.t(g.did));
  w.say(`{Name}'s mom always told {him} ${g.rule}.`, `{His} mom said, "Remember, ${g.rule.replace(/^not to /, 'do not ').replace(/^to /, '')}."`);
  w.say('But {name} was curious.', 'But {name} did not listen.', 'But {name} thought it would be fine.');
  w.say('{Time}, when mom was not looking, {name} {did}.'.replace('{Time}', d.pick(W.TIMES)));
  w.say(`Oops! {Name} ${g.trouble}.`, `Oh no! {Name} ${g.trouble}.`);
  w.quote('{name}', ['Help! Mom!', 'Mom! Help me!', 'Oh no!'], 'cried');
  w.para();
  w.say(`Mom came running. She ${g.help}.`, `Mom heard {him} and came fast. She ${g.help}.`);
  w.quote('{name}', ['I am sorry, Mom. I did not listen.', 'I am sorry. I should have listened to you.']);
  w.quote('Mom', ['It is okay. The rules are there to keep you safe.', 'I am glad you are okay. Next time, please listen.', 'I love you. Rules help keep you safe.']);
  w.para();
  moral(w, [
    'From that day on, {name} always listened to {his} mom.',
    '{Name} learned that it is good to listen to the people who love you.',
    '{Name} learned an important lesson that day.',
  ]);
}

function gift(w: Writer): void {
  const { d } = w;
  opening(w);
  const g = d.pick(W.GIFTS);
  const who = d.pick(W.GIFT_FOR);
  w.set('who', who.who);
  w.set('she', who.she);
  w.set('her', who.her);
  w.set('gift', g.thing.replace(/^an? /, ''));
  w.set('make', g.make);
  w.para();
  w.say('{Time}, {name} remembered that it was {his} {who}\'s birthday.'.replace('{Time}', d.pick(W.TIMES)), 'Soon it would be {his} {who}\'s birthday.');
  w.say('{He} wanted to {make} for {her}.', '{He} wanted to give {her} something special. So {he} decided to {make}.');
  const [a, b, c, e] = g.steps;
  w.say(`First, {he} ${a}.`);
  w.say(`Then {he} ${b}.`);
  w.say(`Next, {he} ${c}.`, `After that, {he} ${c}.`);
  w.say(`At last, {he} ${e}.`, `Last of all, {he} ${e}.`);
  w.set('excited', feel(d, 'excited'));
  w.say('{Name} was {excited}.', '{Name} could not wait to give it to {her}.');
  w.para();
  w.say('When {his} {who} saw the {gift}, {she} smiled a big smile.', '{His} {who} opened the gift and smiled.');
  w.quote('{his} {who}', ['Thank you, {name}! This is the best gift ever!', 'Oh, {name}! I love it!', 'What a lovely {gift}! You made it all by yourself!']);
  w.say('{Name} felt warm and happy inside.', '{Name} gave {her} a big hug.');
  moral(w, [
    'A gift made with love is the best gift of all.',
    '{Name} learned that giving can feel even better than getting.',
    'It was the best birthday ever.',
  ]);
}

function rain(w: Writer): void {
  const { d } = w;
  opening(w);
  placeFor(w, true);
  const [i1, i2] = d.some(W.WEATHER_INSIDE, 2);
  w.para();
  w.say('{Time}, {name} wanted to go to {to}.'.replace('{Time}', d.pick(['One morning', 'One Saturday', 'One day'])));
  w.say('But when {he} looked out the window, it was raining.', 'But it was raining hard outside.', 'But dark clouds filled the sky, and rain began to fall.');
  w.set('sad', feel(d, 'sad'));
  w.say('{Name} felt {sad}.', '{Name} pressed {his} nose to the window and sighed.');
  w.quote('{name}', ['I want to go outside!', 'Now I can not play {at}.', 'Rain, rain, go away!']);
  w.quote('{his} mom', ['We can have fun inside too.', 'Let us find something fun to do inside.']);
  w.para();
  w.say(`So {name} and {his} mom ${i1}.`, `First, they ${i1}.`);
  w.say(`Then they ${i2}.`, `After that, they ${i2}.`);
  w.say('{Name} laughed and had a great time.', 'It was so much fun that {name} forgot about the rain.');
  w.para();
  w.say('After a while, the rain stopped.', 'Later, the rain stopped.');
  w.say('The sun came out, and there was a big rainbow in the sky!', 'The sun came out, and a rainbow filled the sky.');
  w.say('{Name} ran outside and jumped in the puddles.', '{Name} put on {his} boots and went to {to} after all.');
  moral(w, [
    '{Name} learned that every day can be fun, rain or shine.',
    'It turned out to be a wonderful day.',
    '{Name} learned that you can have fun anywhere.',
  ]);
}

function friend(w: Writer): void {
  const { d } = w;
  opening(w);
  placeFor(w);
  const f = friendFor(w);
  w.set('fk', f.kind.noun);
  w.para();
  w.say('{Time}, a new {fk} came to {to}.'.replace('{Time}', d.pick(W.TIMES)));
  w.say('{Fhis} name was {f}.', 'The new {fk} was called {f}.');
  w.say('{F} was very shy and stood all alone.', '{F} did not know anyone and looked sad.', '{F} sat by {fhim}self near {thing}.');
  w.say('{Name} saw {f} and walked over.', '{Name} wanted to say hello.');
  w.quote('{name}', ['Hi! My name is {name}. Do you want to play with me?', 'Hello! Do you want to be my friend?', 'Hi, I am {name}. Come and play!']);
  w.quote('{f}', ['Yes, I would like that.', 'Yes, please!', 'Really? Thank you!'], d.pick(['said', 'said softly', 'said with a smile']));
  w.para();
  w.set('game', d.pick(['tag', 'hide and seek', 'catch', 'a game of pretend', 'with a ball', 'on the swings']));
  w.say('They played {game} together.', 'Together, they played {game}.');
  w.say('They laughed and ran until the sun went down.', 'They had so much fun that they did not want to stop.', 'They looked at {thing} and {thing2} and talked about everything.');
  w.quote('{f}', ['Thank you for being my friend.', 'I am so happy I met you.', 'Can we play again tomorrow?']);
  w.para();
  moral(w, [
    '{Name} learned that a kind word can make a new friend.',
    'From that day on, they played together every day.',
    '{Name} and {f} became best friends.',
    'Being kind to someone new made them both very happy.',
  ]);
}

function picnic(w: Writer): void {
  const { d } = w;
  opening(w);
  placeFor(w, true);
  const f = friendFor(w);
  w.set('fk', f.kind.noun);
  w.set('food', d.pick(W.FOODS));
  w.set('food2', d.pick(W.FOODS.filter((x) => x !== w.vars.food)));
  w.para();
  w.say('{Time}, {name} and {f} went on a picnic {at}.'.replace('{Time}', d.pick(W.TIMES)));
  w.say('{Name} brought {food} and {food2}.', 'In {his} basket, {name} had {food} and {food2}.');
  w.say('They sat on a blanket near {thing}.', 'They found a nice spot near {thing}.');
  w.say('But {f} looked in {fhis} bag and said, "Oh no! I forgot my lunch."', 'But when {f} opened {fhis} bag, it was empty. {F} had forgotten {fhis} lunch!');
  w.say('{F} was hungry and sad.', '{F}\'s tummy made a loud sound.');
  w.para();
  w.say('{Name} looked at {his} food.', '{Name} thought for a moment.');
  w.quote('{name}', ['You can have some of my food.', 'Here, let us share.', 'Do not worry. We can share my lunch.']);
  w.say('{Name} gave {f} {food2}.', '{Name} split the food in two and gave half to {f}.');
  w.quote('{f}', ['Thank you, {name}! You are so kind.', 'Thank you! This is yummy!']);
  w.say('They ate together and watched {thing2}.', 'They ate and laughed in the sun.');
  w.para();
  moral(w, [
    'Food tastes better when you share it with a friend.',
    '{Name} learned that sharing is caring.',
    'It was the best picnic ever.',
  ]);
}

const RUN: Record<Plot, (w: Writer, o: StoryOptions) => void> = {
  lost: (w, o) => lost(w, o.toy), share: (w, o) => share(w, o.toy), fear, help, try: tryAgain, listen, gift, rain, friend, picnic,
};

export function story(d: Dice, opts: StoryOptions = {}): string {
  const hero = opts.hero ?? makeHero(d);
  const w = new Writer(d, hero, { time: d.pick(W.TIMES) });
  RUN[opts.plot ?? d.pick(PLOTS)](w, opts);
  return w.text();
}
