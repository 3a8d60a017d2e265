// The remote benchmark's server, in its own process (as a real remote server would be), so the
// client's event loop is not shared with the server's. Started by bench/remote.ts through fork():
// it sends `{ url }` once listening, and answers `{ op: 'connections' }` with the number of
// connections accepted so far.
import { startFailureServer } from '../test/e2e/failure-server.js';

const server = await startFailureServer({ tokenDelayMs: 0, keepAliveTimeoutMs: 30_000, logRequests: false });
process.send!({ url: server.url });
process.on('message', (m: { op: string; id: number }) => {
  if (m.op === 'connections') process.send!({ id: m.id, connections: server.connections() });
  if (m.op === 'close') void server.close().then(() => process.exit(0));
});
process.on('disconnect', () => void server.close().then(() => process.exit(0)));
