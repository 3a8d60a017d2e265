// Word lists for the procedural story corpus. Written for this project (CC0, see models/README.md):
// nothing here is copied from any dataset. Keep the vocabulary small and concrete, as in stories
// for small children, so a few-million-parameter model can learn it.

export type Gender = 'f' | 'm';

export interface Kind {
  /** "girl", "little dog" … used as "a {noun}". */
  noun: string;
  animal: boolean;
  /** Names that suit this kind; people draw from the shared name lists. */
  names?: { f: readonly string[]; m: readonly string[] };
  /** What this kind likes doing, as a verb phrase after "loved to". */
  likes?: readonly string[];
  /** Where such an animal lives. */
  home?: string;
  sound?: string;
}

export const GIRL_NAMES = ['Lily', 'Mia', 'Sue', 'Anna', 'Emma', 'Lucy', 'Zoe', 'Ella', 'Rosa', 'Amy', 'Kim', 'Jane', 'Ruby', 'Daisy', 'Nora', 'Ivy', 'Sara', 'Molly', 'Pam', 'Jill'] as const;
export const BOY_NAMES = ['Tom', 'Ben', 'Max', 'Sam', 'Tim', 'Leo', 'Jack', 'Finn', 'Jake', 'Ned', 'Bob', 'Noah', 'Owen', 'Eli', 'Dan', 'Joe', 'Ted', 'Kai', 'Luke', 'Adam'] as const;

export const PEOPLE: readonly Kind[] = [
  { noun: 'girl', animal: false },
  { noun: 'boy', animal: false },
];

export const ANIMALS: readonly Kind[] = [
  { noun: 'dog', animal: true, names: { f: ['Daisy', 'Bella', 'Rosie'], m: ['Spot', 'Rex', 'Buddy', 'Max'] }, likes: ['run in the grass', 'chase sticks', 'dig holes'], home: 'a little house in the yard', sound: 'Woof' },
  { noun: 'puppy', animal: true, names: { f: ['Penny', 'Coco'], m: ['Scout', 'Lucky', 'Toby'] }, likes: ['run in the grass', 'chase {his} tail', 'play with a ball'], home: 'a warm basket by the door', sound: 'Woof' },
  { noun: 'cat', animal: true, names: { f: ['Mittens', 'Coco', 'Kitty'], m: ['Tiger', 'Felix', 'Oscar'] }, likes: ['sleep in the sun', 'chase butterflies', 'climb trees'], home: 'a soft bed by the window', sound: 'Meow' },
  { noun: 'kitten', animal: true, names: { f: ['Fluffy', 'Snow', 'Lulu'], m: ['Smudge', 'Milo'] }, likes: ['play with yarn', 'chase butterflies', 'nap in a box'], home: 'a small box with a blanket', sound: 'Meow' },
  { noun: 'bunny', animal: true, names: { f: ['Hop', 'Daisy', 'Clover'], m: ['Thumper', 'Benny'] }, likes: ['hop in the meadow', 'eat carrots', 'dig in the dirt'], home: 'a cozy hole under a tree', sound: '' },
  { noun: 'bird', animal: true, names: { f: ['Tweety', 'Sunny'], m: ['Chirp', 'Pip'] }, likes: ['fly over the trees', 'sing songs', 'build nests'], home: 'a nest in a tall tree', sound: 'Tweet' },
  { noun: 'bear', animal: true, names: { f: ['Honey', 'Rosie'], m: ['Bruno', 'Teddy', 'Benny'] }, likes: ['eat honey', 'catch fish', 'take long naps'], home: 'a big cave in the forest', sound: '' },
  { noun: 'fox', animal: true, names: { f: ['Ruby', 'Poppy'], m: ['Rusty', 'Red', 'Felix'] }, likes: ['run through the forest', 'play hide and seek', 'look at the stars'], home: 'a den under a big rock', sound: '' },
  { noun: 'frog', animal: true, names: { f: ['Lily', 'Green'], m: ['Hoppy', 'Fred', 'Freddy'] }, likes: ['jump in the pond', 'catch flies', 'sit on lily pads'], home: 'a little pond', sound: 'Ribbit' },
  { noun: 'duck', animal: true, names: { f: ['Dot', 'Daisy', 'Polly'], m: ['Quack', 'Donny', 'Webby'] }, likes: ['swim in the pond', 'splash in the water', 'walk in a line'], home: 'a little pond', sound: 'Quack' },
  { noun: 'mouse', animal: true, names: { f: ['Minnie', 'Squeak'], m: ['Pip', 'Jerry', 'Tiny'] }, likes: ['eat cheese', 'run fast', 'hide in small places'], home: 'a tiny hole in the wall', sound: 'Squeak' },
  { noun: 'squirrel', animal: true, names: { f: ['Hazel', 'Nutmeg'], m: ['Nutty', 'Chip', 'Sandy'] }, likes: ['climb trees', 'collect nuts', 'jump from branch to branch'], home: 'a hole in an old tree', sound: '' },
  { noun: 'pig', animal: true, names: { f: ['Pinky', 'Rosie', 'Penny'], m: ['Oink', 'Porky', 'Wilbur'] }, likes: ['roll in the mud', 'eat apples', 'play in the barn'], home: 'a barn on a farm', sound: 'Oink' },
  { noun: 'owl', animal: true, names: { f: ['Hootie', 'Luna'], m: ['Hoot', 'Ollie', 'Otis'] }, likes: ['look at the moon', 'fly at night', 'read books'], home: 'a hole in a tall tree', sound: 'Hoot' },
  { noun: 'elephant', animal: true, names: { f: ['Ella', 'Dolly'], m: ['Jumbo', 'Peanut'] }, likes: ['splash water', 'eat leaves', 'walk by the river'], home: 'a big green jungle', sound: '' },
  { noun: 'turtle', animal: true, names: { f: ['Shelly', 'Myrtle'], m: ['Slow', 'Tucker', 'Sheldon'] }, likes: ['swim in the lake', 'sit in the sun', 'eat leaves'], home: 'a quiet lake', sound: '' },
];

export const PERSON_ADJ = ['little', 'kind', 'happy', 'curious', 'brave', 'shy', 'friendly', 'playful', 'smart', 'cheerful', 'gentle', 'small'] as const;
export const ANIMAL_ADJ = ['little', 'small', 'fluffy', 'happy', 'curious', 'brave', 'shy', 'friendly', 'playful', 'kind', 'silly', 'gentle'] as const;

export const PERSON_LIKES = [
  'play outside', 'draw pictures', 'read books', 'sing songs', 'run and jump', 'play with blocks', 'look at the clouds',
  'help {his} mom in the kitchen', 'ride {his} bike', 'build sand castles', 'pick flowers', 'dance', 'play games with {his} friends',
  'climb trees', 'splash in puddles', 'look for bugs', 'paint pictures', 'play ball',
] as const;

export interface Place {
  /** Used as "went to {to}". */
  to: string;
  /** Used as "{at}": "at the park". */
  at: string;
  /** Things to see or play with there: "the swings". */
  things: readonly string[];
  /** Where a lost thing can end up: "under the slide". */
  spots: readonly string[];
  /** Whether it is outdoors (weather matters). */
  outside: boolean;
}

export const PLACES: readonly Place[] = [
  { to: 'the park', at: 'at the park', things: ['the swings', 'the slide', 'a big tree', 'the sandbox', 'the ducks in the pond'], spots: ['under the slide', 'behind a big tree', 'in the sandbox', 'under a bench', 'next to the swings'], outside: true },
  { to: 'the garden', at: 'in the garden', things: ['the flowers', 'the bees', 'the little pond', 'the tall sunflowers', 'the butterflies'], spots: ['under a bush', 'behind the flowers', 'next to the pond', 'in the tall grass', 'under a big leaf'], outside: true },
  { to: 'the forest', at: 'in the forest', things: ['the tall trees', 'a little stream', 'the birds', 'a big rock', 'the mushrooms'], spots: ['under a log', 'behind a big rock', 'near the stream', 'under a pile of leaves', 'in a hollow tree'], outside: true },
  { to: 'the beach', at: 'at the beach', things: ['the waves', 'the shells', 'the soft sand', 'the crabs', 'the boats'], spots: ['under the sand', 'behind a rock', 'near the water', 'next to a big shell', 'under a towel'], outside: true },
  { to: 'the farm', at: 'on the farm', things: ['the cows', 'the red barn', 'the chickens', 'the hay', 'the horses'], spots: ['in the hay', 'behind the barn', 'under the tractor', 'near the chickens', 'by the fence'], outside: true },
  { to: 'the meadow', at: 'in the meadow', things: ['the flowers', 'the butterflies', 'the green grass', 'the little hill', 'the bees'], spots: ['in the tall grass', 'behind a flower bush', 'under a little tree', 'near a big stone', 'by the hill'], outside: true },
  { to: 'the lake', at: 'by the lake', things: ['the ducks', 'the fish', 'the little boats', 'the frogs', 'the clear water'], spots: ['near the water', 'under a tree', 'behind a rock', 'on the dock', 'in the reeds'], outside: true },
  { to: 'the playground', at: 'at the playground', things: ['the swings', 'the slide', 'the sandbox', 'the seesaw', 'the climbing frame'], spots: ['under the slide', 'in the sandbox', 'behind the seesaw', 'under a bench', 'next to the gate'], outside: true },
  { to: 'the zoo', at: 'at the zoo', things: ['the lions', 'the monkeys', 'the giraffes', 'the big elephants', 'the penguins'], spots: ['under a bench', 'near the gate', 'by the fence', 'next to a tree', 'behind a sign'], outside: true },
  { to: 'the hill', at: 'on the hill', things: ['the view', 'the wind', 'the clouds', 'the green grass', 'the little houses far away'], spots: ['in the grass', 'behind a rock', 'under a bush', 'near a tree', 'at the bottom of the hill'], outside: true },
  { to: 'the library', at: 'at the library', things: ['the books', 'the big chairs', 'the picture books', 'the reading corner', 'the tall shelves'], spots: ['under a table', 'behind a chair', 'on a high shelf', 'in the reading corner', 'next to the door'], outside: false },
  { to: 'the store', at: 'at the store', things: ['the toys', 'the red apples', 'the big cakes', 'the shiny carts', 'the candy'], spots: ['under a shelf', 'behind a cart', 'next to the apples', 'near the door', 'by the toys'], outside: false },
];

export interface Thing {
  noun: string;
  adjs: readonly string[];
  /** "play with it", "fly it" … a verb phrase with "it". */
  use: string;
  /** Past tense of use: "played with it". */
  used: string;
}

export const TOYS: readonly Thing[] = [
  { noun: 'ball', adjs: ['red', 'big', 'bouncy', 'blue', 'shiny', 'yellow'], use: 'play with it', used: 'played with it' },
  { noun: 'kite', adjs: ['red', 'big', 'colorful', 'blue', 'green'], use: 'fly it', used: 'flew it' },
  { noun: 'teddy bear', adjs: ['soft', 'brown', 'old', 'fluffy', 'little'], use: 'hug it', used: 'hugged it' },
  { noun: 'toy car', adjs: ['red', 'fast', 'shiny', 'little', 'blue'], use: 'race it', used: 'raced it' },
  { noun: 'doll', adjs: ['pretty', 'little', 'old', 'soft', 'new'], use: 'play with it', used: 'played with it' },
  { noun: 'drum', adjs: ['loud', 'red', 'big', 'little', 'shiny'], use: 'play it', used: 'played it' },
  { noun: 'hat', adjs: ['red', 'funny', 'big', 'blue', 'warm', 'yellow'], use: 'wear it', used: 'wore it' },
  { noun: 'toy boat', adjs: ['little', 'red', 'blue', 'wooden', 'white'], use: 'sail it', used: 'sailed it' },
  { noun: 'book', adjs: ['big', 'new', 'old', 'colorful', 'funny'], use: 'read it', used: 'read it' },
  { noun: 'train', adjs: ['little', 'red', 'wooden', 'long', 'shiny'], use: 'play with it', used: 'played with it' },
  { noun: 'scarf', adjs: ['warm', 'red', 'soft', 'long', 'green'], use: 'wear it', used: 'wore it' },
  { noun: 'shell', adjs: ['pink', 'pretty', 'shiny', 'white', 'little'], use: 'look at it', used: 'looked at it' },
  { noun: 'robot', adjs: ['little', 'shiny', 'silver', 'funny', 'new'], use: 'play with it', used: 'played with it' },
  { noun: 'blanket', adjs: ['soft', 'warm', 'blue', 'old', 'fluffy'], use: 'wrap up in it', used: 'wrapped up in it' },
];

export const FOODS = ['an apple', 'a cookie', 'a sandwich', 'some berries', 'a carrot', 'a piece of cake', 'some soup', 'a banana', 'some bread', 'a cupcake'] as const;

export const FEARS: readonly { of: string; scary: string; reveal: string; calm: string }[] = [
  { of: 'the dark', scary: 'When the lights went out at night, the room was very dark.', reveal: '{Parent} turned on a little lamp. The room looked just the same as in the day.', calm: 'The dark is just the day with its eyes closed.' },
  { of: 'thunder', scary: 'One night there was a big storm. Boom! The thunder was very loud.', reveal: '{Parent} held {him} close and they counted the seconds between the flash and the boom. The storm went far away.', calm: 'Thunder is only a loud sound. It can not hurt you when you are inside.' },
  { of: 'the big dog next door', scary: 'The big dog next door barked and jumped at the fence.', reveal: 'The dog only wanted to play. It wagged its tail and licked {his} hand.', calm: 'Big dogs can be gentle and kind too.' },
  { of: 'the water', scary: 'At the pool, the water looked deep and cold.', reveal: 'With a little help, {he} kicked {his} legs and splashed. The water was fun!', calm: 'If you go slowly, the water can be your friend.' },
  { of: 'the tall slide', scary: 'The slide at the playground was very tall.', reveal: '{He} climbed up one step at a time and slid down. Whee! It was fast and fun.', calm: 'Tall things look scary, but you can try them one step at a time.' },
  { of: 'bees', scary: 'A bee buzzed around the flowers, and it came very close.', reveal: 'The bee did not care about {him} at all. It only wanted the sweet flowers.', calm: 'Bees are busy making honey. If you stay calm, they leave you alone.' },
  { of: 'the first day of school', scary: 'The school was big and full of children {he} did not know.', reveal: 'A kind teacher smiled, and a new friend asked {him} to play. The day went by fast.', calm: 'New places feel strange at first, but soon they feel like home.' },
];

export const WEATHER_INSIDE = ['built a fort with pillows and blankets', 'drew pictures of the sun', 'played a game of hide and seek in the house', 'baked cookies', 'made a tower of blocks', 'read a book about the sea', 'had a tea party with toys'] as const;

export const GIFTS: readonly { thing: string; make: string; steps: readonly string[] }[] = [
  { thing: 'a card', make: 'make a card', steps: ['folded a piece of paper', 'drew a big heart on it', 'wrote a kind word inside', 'added some stars'] },
  { thing: 'a picture', make: 'draw a picture', steps: ['got out the crayons', 'drew the whole family', 'colored the sky blue', 'drew a yellow sun'] },
  { thing: 'a cake', make: 'bake a cake', steps: ['mixed flour and eggs', 'put the cake in the oven', 'waited and waited', 'put pink icing on top'] },
  { thing: 'a necklace', make: 'make a necklace', steps: ['found some pretty beads', 'put them on a string', 'picked the shiny ones', 'tied a little bow'] },
  { thing: 'a flower crown', make: 'make a flower crown', steps: ['picked some flowers', 'tied the stems together', 'added a white daisy', 'made it into a circle'] },
];

export const GIFT_FOR: readonly { who: string; she: string; her: string }[] = [
  { who: 'mom', she: 'she', her: 'her' }, { who: 'dad', she: 'he', her: 'him' },
  { who: 'grandma', she: 'she', her: 'her' }, { who: 'grandpa', she: 'he', her: 'him' },
];

export const SKILLS: readonly { skill: string; try: string; fail: string; succeed: string }[] = [
  { skill: 'ride a bike', try: 'got on the bike and pushed the pedals', fail: 'The bike wobbled and fell over.', succeed: 'The bike went straight and fast down the path.' },
  { skill: 'climb the big tree', try: 'reached for the first branch', fail: '{His} hands slipped and {he} slid back down.', succeed: 'Branch by branch, {he} climbed up and saw the whole town.' },
  { skill: 'tie shoes', try: 'made a loop with the laces', fail: 'The laces came apart again.', succeed: '{He} made two loops and pulled. The bow stayed!' },
  { skill: 'swim', try: 'kicked in the water', fail: '{He} swallowed some water and coughed.', succeed: '{He} kicked and moved {his} arms and swam across the pool.' },
  { skill: 'fly a kite', try: 'ran with the kite', fail: 'The kite fell down on the grass.', succeed: 'The wind took the kite high up into the sky.' },
  { skill: 'build a tall tower', try: 'put one block on top of another', fail: 'The tower fell down with a crash.', succeed: 'The tower stood tall and did not fall.' },
  { skill: 'whistle', try: 'made a small round mouth and blew', fail: 'Only air came out, and no sound.', succeed: 'A clear little whistle came out. Tweet!' },
  { skill: 'jump rope', try: 'swung the rope and jumped', fail: 'The rope caught {his} feet.', succeed: '{He} jumped ten times without stopping.' },
];

export const HURTS: readonly { animal: string; hurt: string; care: string; heal: string; leave: string }[] = [
  { animal: 'bird', hurt: 'a hurt wing', care: 'made a soft nest in a box and gave it some seeds', heal: 'the wing got better', leave: 'flew up into the sky' },
  { animal: 'puppy', hurt: 'a sore paw', care: 'washed the paw and wrapped it with a clean cloth', heal: 'the paw got better', leave: 'ran around and wagged its tail' },
  { animal: 'kitten', hurt: 'no home', care: 'gave it warm milk and a soft blanket', heal: 'the kitten grew strong', leave: 'curled up and purred' },
  { animal: 'duckling', hurt: 'no mother nearby', care: 'walked it back to the pond, slowly and gently', heal: 'the duckling found its mother', leave: 'swam after its family' },
  { animal: 'butterfly', hurt: 'a wet wing', care: 'put it on a warm leaf in the sun', heal: 'the wing got dry', leave: 'flew away over the flowers' },
  { animal: 'turtle', hurt: 'no way back to the water', care: 'carried it gently to the lake', heal: 'the turtle felt the cool water', leave: 'swam away happily' },
];

export const DANGERS: readonly { rule: string; did: string; trouble: string; help: string }[] = [
  { rule: 'not to go near the pond alone', did: 'walked down to the pond all alone', trouble: 'slipped on the wet mud and fell into the cold water', help: 'pulled {him} out and wrapped {him} in a warm towel' },
  { rule: 'not to climb on the kitchen counter', did: 'climbed up on the kitchen counter to get a cookie', trouble: 'knocked over the cookie jar, and it broke on the floor', help: 'cleaned up the pieces and checked that nobody was hurt' },
  { rule: 'not to play with the sharp scissors', did: 'took the sharp scissors from the table', trouble: 'cut a hole in {his} favorite shirt', help: 'sewed up the shirt and put the scissors away' },
  { rule: 'to stay close at the store', did: 'ran off to look at the toys', trouble: 'looked around and could not see mom anywhere', help: 'found {him} by the toys and gave {him} a big hug' },
  { rule: 'not to run on the wet floor', did: 'ran across the wet floor to get {his} ball', trouble: 'slipped and bumped {his} knee', help: 'put a bandage on the knee and gave {him} a kiss' },
  { rule: 'not to eat berries from the bush by the road', did: 'picked some berries from the bush by the road and ate them', trouble: 'got a bad tummy ache', help: 'gave {him} some water and let {him} rest' },
  { rule: 'not to go out in the rain without boots', did: 'ran out into the rain in {his} new shoes', trouble: 'stepped in a deep puddle and got {his} feet all wet and cold', help: 'dried {his} feet and made {him} a cup of warm milk' },
];

export const FEELINGS = {
  happy: ['happy', 'glad', 'very happy', 'so happy'],
  sad: ['sad', 'very sad', 'so sad', 'upset'],
  scared: ['scared', 'afraid', 'a little scared', 'very scared'],
  excited: ['excited', 'very excited', 'so excited'],
  proud: ['proud', 'very proud', 'so proud'],
  sorry: ['sorry', 'very sorry'],
  surprised: ['surprised', 'very surprised'],
  angry: ['angry', 'a little angry', 'cross'],
} as const;

export const TIMES = ['One day', 'One sunny day', 'One morning', 'One afternoon', 'One bright morning', 'One warm day', 'One cold day'] as const;
