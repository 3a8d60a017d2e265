// `friday` command line. Every failure is one line on stderr and a non-zero exit, never a stack trace.
import { FridayError, toFridayError } from '../api/errors.js';

const USAGE = `usage: friday <command> [flags]

commands:
  start     stream a story from the embedded default model (what \`npm start\` runs)
  generate  --model PATH --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--top-p P]
            [--min-p P] [--repeat-penalty R] [--seed S] [--ctx N] [--json]
  generate  --remote URL --prompt TEXT [same sampling flags] [--json]
  tokenize  --model PATH --text TEXT [--json]
  info      --model PATH [--ctx N]
  serve     --model PATH [--host 127.0.0.1] [--port 8080] [--max-seqs N] [--ctx N] [--max-queue N]
            [--drain-timeout SECONDS] [--fallback URL[,URL...]] [--overflow-queue N]
`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  generate: async () => (await import('./generate.js')).generateCommand,
  tokenize: async () => (await import('./tokenize.js')).tokenizeCommand,
  info: async () => (await import('./info.js')).infoCommand,
  serve: async () => (await import('./serve.js')).serveCommand,
  start: async () => (await import('./start.js')).startCommand,
};

/** Exit codes: 0 ok, 1 runtime failure, 2 usage error or no WebGPU. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`friday: unknown command "${name}". Run "friday --help" for the commands.\n`);
    return 2;
  }
  try {
    return await (await load())(rest);
  } catch (e) {
    const err = toFridayError(e);
    process.stderr.write(`friday: ${err.message}\n`);
    if (process.env.FRIDAY_DEBUG && err.cause) process.stderr.write(`${String((err.cause as Error).stack ?? err.cause)}\n`);
    return err.code === 'INVALID_REQUEST' || err.code === 'NO_WEBGPU' ? 2 : 1;
  }
}

export { FridayError };
