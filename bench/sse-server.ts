// The remote benchmark's token server: a streamed /v1/completions on plain TCP, built to cost as
// little as it can, so that the client is what the benchmark measures. The test failure server
// (test/e2e/failure-server.ts, a node:http server that builds each event as it goes) used as much
// CPU per request as the client did: from concurrency 16 on its core was the one at 100%, and
// the benchmark measured the server.
//
// The same tokens and the same writes as the failure server: one write per event, a turn of the
// event loop (setImmediate) between tokens, HTTP/1.1 keep-alive, chunked encoding. What it skips:
// node:http's request and response objects, and building strings per request (each response for
// a max_tokens is rendered once and kept as Buffers). Only what the benchmark sends is understood:
// POST /v1/completions with a JSON body, streamed.
//
// Run by bench/fork-server.ts: sends `{ url }` once listening; answers `{ op: 'connections' }`
// with the number of connections accepted so far.
import { createServer, type Socket } from 'node:net';
import { expectedTokens, tokenText } from '../test/e2e/failure-server.js';

const HEAD = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n';
const BAD = Buffer.from('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');

const chunk = (s: string): string => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
const event = (obj: unknown): string => chunk(`data: ${JSON.stringify(obj)}\n\n`);

/** The writes of one streamed response (the head with the first event), rendered once per max_tokens and prompt. */
const rendered = new Map<string, Buffer[]>();
function response(prompt: string, n: number): Buffer[] {
  const key = `${n}:${prompt}`;
  let writes = rendered.get(key);
  if (writes) return writes;
  const promptIds = [...prompt].map((c) => c.charCodeAt(0));
  const tokens = expectedTokens(promptIds, n);
  const meta = { id: 'cmpl-canned', created: 0, model: 'canned', object: 'text_completion' };
  const usage = { prompt_tokens: promptIds.length, completion_tokens: n, total_tokens: promptIds.length + n };
  const parts = tokens.map((t) => event({ ...meta, choices: [{ index: 0, text: tokenText(t), finish_reason: null, token_ids: [t] }] }));
  parts.push(event({ ...meta, choices: [{ index: 0, text: '', finish_reason: 'length' }] }));
  parts.push(event({ ...meta, choices: [], usage }));
  parts.push(chunk('data: [DONE]\n\n') + '0\r\n\r\n');
  parts[0] = HEAD + parts[0];
  writes = parts.map((p) => Buffer.from(p));
  rendered.set(key, writes);
  return writes;
}

let accepted = 0;

/** One connection: requests in turn (the client does not pipeline), each answered by a stream. */
function serve(socket: Socket): void {
  accepted++;
  socket.setNoDelay(true);
  let buf: Buffer = Buffer.alloc(0);
  let busy = false;
  socket.on('data', (d: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    if (!busy) next();
  });
  socket.on('error', () => socket.destroy());

  function next(): void {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = buf.subarray(0, end).toString('latin1');
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const length = m ? Number(m[1]) : 0;
    if (buf.length < end + 4 + length) return;
    const body = buf.subarray(end + 4, end + 4 + length).toString('utf8');
    buf = buf.subarray(end + 4 + length);
    let req: { prompt?: unknown; max_tokens?: unknown; stream?: unknown };
    try {
      req = JSON.parse(body) as typeof req;
    } catch {
      req = {};
    }
    if (!head.startsWith('POST ') || req.stream !== true || typeof req.prompt !== 'string') {
      socket.end(BAD);
      return;
    }
    busy = true;
    stream(response(req.prompt, typeof req.max_tokens === 'number' ? req.max_tokens : 16), 0);
  }

  /** Token i's write, then a turn of the event loop; the final, usage and [DONE] events go together, as the failure server sends them. */
  function stream(writes: Buffer[], i: number): void {
    if (socket.destroyed) return;
    const trailer = writes.length - 3;
    if (i < trailer) {
      socket.write(writes[i]!);
      setImmediate(stream, writes, i + 1);
      return;
    }
    for (let k = trailer; k < writes.length; k++) socket.write(writes[k]!);
    busy = false;
    next();
  }
}

const server = createServer(serve);
server.listen(0, '127.0.0.1', () => {
  const a = server.address() as { port: number };
  process.send!({ url: `http://127.0.0.1:${a.port}` });
});
process.on('message', (m: { op: string; id: number }) => {
  if (m.op === 'connections') process.send!({ id: m.id, connections: accepted });
  if (m.op === 'close') server.close(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
