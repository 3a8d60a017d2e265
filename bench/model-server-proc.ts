// The load benchmark's model server, in its own process (as a real download server would be):
// scripts/lib/model-server.ts serving one file. Started by bench/load.ts through fork() with
// `{ path, bytesPerSecond }` as argv; sends `{ url }` once listening; exits when disconnected.
import { serveModels } from '../scripts/lib/model-server.js';

const [path, bps] = process.argv.slice(2);
const server = await serveModels({ 'model.gguf': path! }, { bytesPerSecond: Number(bps ?? 0) });
process.send!({ url: server.url('model.gguf') });
process.on('disconnect', () => void server.close().then(() => process.exit(0)));
