// Process entry: bin/friday.js loads the compiled copy; tests run this file from source with tsx.
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => { process.stderr.write(`friday: ${(e as Error).message}\n`); process.exitCode = 1; },
);
