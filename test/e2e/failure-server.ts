// A failure-injecting OpenAI-compatible server for remote-engine tests and the remote benchmark:
// plain node:http on 127.0.0.1, ephemeral port. It "generates" canned tokens from a toy model:
// the next token after t is the next lowercase letter (…, 'y', 'z', 'a', …), text = the character.
// A string prompt's tokens are its character codes, so a continuation (prompt + generated tokens,
// as ids or as text) produces exactly what an uninterrupted run would have.
//
// Behaviour is chosen per request by the `x-fail` header or a path prefix `/fail/<directives>/…`
// (so two endpoints of one RemoteEngine can behave differently). Directives, comma-separated:
//   drop=N           destroy the socket after N tokens (N=0: after the headers)
//   status=CODE      answer CODE with an OpenAI error body; retry-after=S adds Retry-After
//   times=K          only the first K requests with these directives fail; later ones are normal
//   stall=MS         send nothing but `: ping` comments for MS before the first token
//   gap=N:MS         after N tokens, only pings for MS
//   malformed[=N]    after N tokens (default 0), send an event whose data is not JSON
//   error-event=N    after N tokens, send `data: {"error": …}` and end the stream
//   ping             a `: ping` comment before every token
//   split            write every event in small pieces, across separate writes
//   burst            the whole stream in one write (the client reads many events at once)
//   pad=BYTES        each token event carries a `pad` string of BYTES characters (a big stream)
//   crlf             CRLF line endings
//   no-ids           never return token ids
//   no-done          end without `data: [DONE]`
//   json             answer stream requests with a whole JSON body
//   delay=MS         pause between tokens (default: the server's tokenDelayMs)
//   nohealth         GET /health is 404 (clients fall back to /v1/models)
//   unhealthy        GET /health is 503
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FailureServerOptions {
  /** Pause between streamed tokens (ms); 0 = setImmediate. Default 0. */
  tokenDelayMs?: number;
  keepAliveTimeoutMs?: number;
  /** Keep every request in `requests` (default true). The benchmark turns it off: hundreds of thousands of kept bodies made the server's GC, and so the server, slower as a run went on. */
  logRequests?: boolean;
}

export interface LoggedRequest {
  method: string; path: string; directives: string; body?: Record<string, unknown>;
  /** Streams: the most bytes the response held unsent at once (its writes backed up: the client was not reading). */
  maxBacklog?: number;
}

export interface FailureServer {
  url: string;
  port: number;
  /** Server-side sockets open right now. */
  openSockets(): number;
  /** Connections accepted since start. */
  connections(): number;
  /** Generation requests in progress right now, and the most seen at once. */
  active(): number;
  maxActive(): number;
  requests: LoggedRequest[];
  /** Stops listening and closes idle sockets: new connections are refused. */
  refuse(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

export const nextToken = (t: number): number => 97 + ((((t - 97 + 1) % 26) + 26) % 26);
export const tokenText = (t: number): string => (t >= 32 && t <= 126 ? String.fromCharCode(t) : `<${t}>`);
/** What the server generates after `prompt` (ids or text), n tokens. */
export function expectedTokens(prompt: string | number[], n: number): number[] {
  const ids = typeof prompt === 'string' ? [...prompt].map((c) => c.charCodeAt(0)) : prompt;
  const out: number[] = [];
  let t = ids.length ? ids[ids.length - 1]! : 96;
  for (let i = 0; i < n; i++) out.push((t = nextToken(t)));
  return out;
}

type Directives = Map<string, string>;

function parseDirectives(s: string): Directives {
  const m = new Map<string, string>();
  for (const part of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    m.set(i < 0 ? part : part.slice(0, i), i < 0 ? '' : decodeURIComponent(part.slice(i + 1)));
  }
  return m;
}

const sleep = (ms: number) => new Promise<void>((r) => (ms > 0 ? setTimeout(r, ms) : setImmediate(r)));

/** The path, and the directives from the `x-fail` header and a `/fail/<directives>` prefix. */
function routeOf(req: IncomingMessage): { path: string; dirText: string } {
  let path = (req.url ?? '/').split('?')[0]!;
  let dirText = String(req.headers['x-fail'] ?? '');
  const m = /^\/fail\/([^/]*)(\/.*)$/.exec(path);
  if (m) {
    dirText = [dirText, decodeURIComponent(m[1]!)].filter(Boolean).join(',');
    path = m[2]!;
  }
  return { path, dirText };
}

/** What the toy model answers a completion or chat request with. */
interface ToyAnswer {
  chat: boolean;
  body: Record<string, unknown>;
  promptIds: number[];
  tokens: number[];
  withIds: boolean;
  meta: { id: string; created: number; model: string };
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

function toyAnswer(body: Record<string, unknown>, chat: boolean, d: Directives): ToyAnswer {
  let promptIds: number[];
  if (chat) {
    const msgs = (body.messages as { role: string; content: string }[]) ?? [];
    const last = msgs[msgs.length - 1];
    promptIds = [...(last?.content ?? '')].map((c) => c.charCodeAt(0));
    if (last?.role === 'assistant' && body.continue_final_message !== true) promptIds = [];
  } else {
    promptIds = typeof body.prompt === 'string' ? [...body.prompt].map((c) => c.charCodeAt(0)) : (body.prompt as number[]);
  }
  const tokens = expectedTokens(promptIds, typeof body.max_tokens === 'number' ? body.max_tokens : 16);
  return {
    chat, body, promptIds, tokens,
    withIds: body.return_token_ids === true && !d.has('no-ids'),
    meta: { id: 'cmpl-canned', created: 0, model: String(body.model ?? 'canned') },
    usage: { prompt_tokens: promptIds.length, completion_tokens: tokens.length, total_tokens: promptIds.length + tokens.length },
  };
}

/** The whole (non-streamed) response body. */
function wholeAnswer(a: ToyAnswer): Record<string, unknown> {
  const text = a.tokens.map(tokenText).join('');
  const choice = a.chat ? { index: 0, message: { role: 'assistant', content: text }, finish_reason: 'length', logprobs: null } : { index: 0, text, finish_reason: 'length', logprobs: null };
  return {
    ...a.meta, object: a.chat ? 'chat.completion' : 'text_completion', usage: a.usage,
    choices: [{ ...choice, ...(a.withIds ? { token_ids: a.tokens } : {}) }], ...(a.withIds ? { prompt_token_ids: a.promptIds } : {}),
  };
}

/** One streamed chunk with one choice. */
function chunk(a: ToyAnswer, choice: Record<string, unknown>): Record<string, unknown> {
  return { ...a.meta, object: a.chat ? 'chat.completion.chunk' : 'text_completion', choices: [{ index: 0, ...choice }] };
}

/** What the server keeps across requests. */
interface ServerState {
  opts: FailureServerOptions;
  requests: LoggedRequest[];
  /** Requests seen per directive string (for `times=K`). */
  failCounts: Map<string, number>;
  /** Generation streams in progress now, and the most at once. */
  active: number;
  maxActive: number;
}

async function handle(st: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { path, dirText } = routeOf(req);
  let d = parseDirectives(dirText);
  const body = req.method === 'POST' ? await readBody(req) : undefined;
  const logged: LoggedRequest = { method: req.method ?? '', path, directives: dirText, ...(body ? { body } : {}) };
  if (st.opts.logRequests !== false) st.requests.push(logged);

  if (req.method === 'GET' && path === '/health') {
    if (d.has('nohealth')) return json(res, 404, { error: { message: 'no route', type: 'invalid_request_error', code: 'not_found' } });
    if (d.has('unhealthy')) return json(res, 503, { status: 'loading' });
    return json(res, 200, { status: 'ok' });
  }
  if (req.method === 'GET' && path === '/v1/models') return json(res, 200, { object: 'list', data: [{ id: 'canned', object: 'model', owned_by: 'test', context_length: 4096 }] });
  const chat = path === '/v1/chat/completions';
  if (req.method !== 'POST' || (!chat && path !== '/v1/completions')) return json(res, 404, { error: { message: `No route ${req.method} ${path}`, type: 'invalid_request_error', code: null } });
  if (!body) return json(res, 400, { error: { message: 'bad JSON', type: 'invalid_request_error', param: null, code: null } });

  if (d.has('times')) {
    const n = (st.failCounts.get(dirText) ?? 0) + 1;
    st.failCounts.set(dirText, n);
    if (n > Number(d.get('times'))) d = new Map([...d].filter(([k]) => ['ping', 'split', 'crlf', 'no-ids', 'delay', 'no-done', 'json'].includes(k)));
  }
  if (d.has('status')) {
    const status = Number(d.get('status'));
    const headers: Record<string, string> = d.has('retry-after') ? { 'retry-after': d.get('retry-after')! } : {};
    return json(res, status, { error: { message: status === 429 ? 'Too many requests' : status === 503 ? 'Overloaded, retry later' : `Injected ${status}`, type: status < 500 ? 'invalid_request_error' : 'server_error', param: null, code: status === 429 ? 'QUEUE_FULL' : 'INJECTED' } }, headers);
  }
  const a = toyAnswer(body, chat, d);
  if (body.stream !== true || d.has('json')) return json(res, 200, wholeAnswer(a));
  st.active++;
  st.maxActive = Math.max(st.maxActive, st.active);
  try {
    await streamAnswer(req, res, d, a, logged, st.opts.tokenDelayMs ?? 0);
  } finally {
    st.active--;
  }
}

/** The answer as SSE, with the stream directives (drops, stalls, gaps, bad events, ...) applied. */
async function streamAnswer(req: IncomingMessage, res: ServerResponse, d: Directives, a: ToyAnswer, logged: LoggedRequest, tokenDelayMs: number): Promise<void> {
  let closed = false;
  res.on('close', () => { closed = true; });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (d.has('burst')) res.cork(); // res.end() uncorks: one write
  const nl = d.has('crlf') ? '\r\n' : '\n';
  const write = async (s: string) => {
    if (closed) return;
    if (!d.has('split')) {
      res.write(s);
      if (res.writableLength > (logged.maxBacklog ?? 0)) logged.maxBacklog = res.writableLength;
      return;
    }
    for (let i = 0; i < s.length; i += 3) { if (closed) return; res.write(s.slice(i, i + 3)); await sleep(0); }
  };
  const event = (obj: unknown) => write(`data: ${JSON.stringify(obj)}${nl}${nl}`);
  const pings = async (ms: number) => {
    const until = Date.now() + ms;
    while (!closed && Date.now() < until) { await write(`: ping${nl}${nl}`); await sleep(Math.min(50, until - Date.now())); }
  };
  const at = (k: string, dflt = -1) => (d.has(k) ? Number(d.get(k) || 0) : dflt);
  const [drop, malformed, errorAt] = [at('drop'), at('malformed'), at('error-event')];
  const [gapAt, gapMs] = d.has('gap') ? d.get('gap')!.split(':').map(Number) as [number, number] : [-1, 0];
  const pad = d.has('pad') ? 'x'.repeat(Number(d.get('pad'))) : '';
  const delay = d.has('burst') ? -1 : at('delay', tokenDelayMs);
  if (d.has('stall')) await pings(Number(d.get('stall')));
  if (a.chat) await event(chunk(a, { delta: { role: 'assistant', content: '' }, finish_reason: null }));
  for (let i = 0; i <= a.tokens.length; i++) {
    if (closed) return;
    if (i === drop) { req.socket.destroy(); return; }
    if (i === malformed) { await write(`data: {"choices": [{"text": ${nl}${nl}`); await write(`data: not json at all${nl}${nl}`); res.end(); return; }
    if (i === errorAt) { await event({ error: { message: 'Injected failure mid-stream', type: 'server_error', param: null, code: 'DEVICE_LOST' } }); res.end(); return; }
    if (i === gapAt) await pings(gapMs);
    if (i === a.tokens.length) break;
    if (d.has('ping')) await write(`: ping${nl}${nl}`);
    const t = a.tokens[i]!;
    const ids = a.withIds ? { token_ids: [t] } : {};
    const extra = pad ? { ...ids, pad } : ids;
    await event(chunk(a, a.chat ? { delta: { content: tokenText(t) }, finish_reason: null, ...extra } : { text: tokenText(t), finish_reason: null, ...extra }));
    if (delay >= 0) await sleep(delay);
  }
  await event(chunk(a, a.chat ? { delta: {}, finish_reason: 'length' } : { text: '', finish_reason: 'length' }));
  if ((a.body.stream_options as { include_usage?: boolean } | undefined)?.include_usage) await event({ ...a.meta, object: a.chat ? 'chat.completion.chunk' : 'text_completion', choices: [], usage: a.usage });
  if (!d.has('no-done')) await write(`data: [DONE]${nl}${nl}`);
  res.end();
}

export async function startFailureServer(opts: FailureServerOptions = {}): Promise<FailureServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const st: ServerState = { opts, requests: [], failCounts: new Map(), active: 0, maxActive: 0 };
  const server = createServer((req, res) => void handle(st, req, res).catch(() => { if (!res.headersSent) res.writeHead(500); res.end(); }));
  server.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 30_000;
  server.on('connection', (s: Socket) => {
    accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    openSockets: () => sockets.size,
    connections: () => accepted,
    active: () => st.active,
    maxActive: () => st.maxActive,
    requests: st.requests,
    async refuse() {
      // Stop listening now (do not wait for open sockets), and close the idle ones.
      server.close();
      server.closeIdleConnections();
    },
    async resume() {
      await new Promise<void>((r, j) => { server.once('error', j); server.listen(port, '127.0.0.1', () => { server.off('error', j); r(); }); });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  try {
    const v = JSON.parse(Buffer.concat(parts).toString('utf8'));
    return typeof v === 'object' && v !== null ? v : undefined;
  } catch {
    return undefined;
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s), ...headers });
  res.end(s);
}
