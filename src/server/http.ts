// `friday serve`: an OpenAI-compatible HTTP server over any Engine (local or router).
// POST /v1/completions, /v1/chat/completions (SSE or JSON); GET /v1/models, /health, /metrics.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FridayError, toFridayError, waitAtMost } from '../api/errors.js';
import type { ChatCompletionParams, CompletionParams, Engine } from '../api/types.js';

export interface ServeOptions {
  host?: string;
  port?: number;
  /** Max request body bytes. */
  maxBodyBytes?: number;
  /** Prometheus text for /metrics. */
  metrics?: () => string;
  log?: (line: string) => void;
}

const STATUS: Partial<Record<FridayError['code'], number>> = {
  INVALID_REQUEST: 400, CONTEXT_LENGTH_EXCEEDED: 400, QUEUE_FULL: 429, ABORTED: 499, ENGINE_CLOSED: 503,
  NO_WEBGPU: 503, DEVICE_LOST: 503, REMOTE_UNAVAILABLE: 502, REMOTE_HTTP_5XX: 502, REMOTE_HTTP_4XX: 502, REMOTE_PROTOCOL: 502,
};

/** OpenAI-style error body; `code` keeps our stable FridayError code. */
export function errorBody(e: FridayError): { error: { message: string; type: string; param: string | null; code: string } } {
  const status = STATUS[e.code] ?? 500;
  return {
    error: {
      message: e.message,
      type: status === 400 ? 'invalid_request_error' : status === 429 ? 'rate_limit_error' : 'server_error',
      param: typeof e.details?.param === 'string' ? e.details.param : null,
      code: e.code,
    },
  };
}

export class FridayServer {
  private engine: Engine | undefined;
  private loadError: FridayError | undefined;
  private readonly server: Server;
  private readonly inflight = new Set<AbortController>();
  private draining = false;
  /** drain() waiting for the last request in flight to end. */
  private onIdle: (() => void) | undefined;

  constructor(engine: Promise<Engine> | Engine, private readonly opts: ServeOptions = {}) {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 5_000;
    Promise.resolve(engine).then(
      (e) => { this.engine = e; },
      (e) => { this.loadError = toFridayError(e); this.opts.log?.(`model load failed: ${this.loadError.message}`); },
    );
  }

  async listen(): Promise<{ host: string; port: number; url: string }> {
    const host = this.opts.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 8080, host, () => resolve());
    });
    const port = (this.server.address() as AddressInfo).port;
    return { host, port, url: `http://${host}:${port}` };
  }

  /** Stops accepting work; waits up to `deadlineMs` for in-flight requests, aborts the rest, closes. */
  async drain(deadlineMs: number): Promise<void> {
    this.draining = true;
    this.server.close();
    if (this.inflight.size > 0) await waitAtMost(new Promise<void>((r) => { this.onIdle = r; }), deadlineMs);
    this.onIdle = undefined;
    for (const c of this.inflight) c.abort();
    this.server.closeAllConnections();
    await this.engine?.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0];
    try {
      if (req.method === 'GET' && url === '/health') return this.health(res);
      if (req.method === 'GET' && url === '/metrics') return send(res, 200, this.opts.metrics?.() ?? '', 'text/plain; version=0.0.4');
      if (req.method === 'GET' && url === '/v1/models') return this.models(res);
      if (req.method === 'POST' && (url === '/v1/completions' || url === '/v1/chat/completions')) return await this.generate(req, res, url === '/v1/chat/completions');
      const known = ['/health', '/metrics', '/v1/models', '/v1/completions', '/v1/chat/completions'].includes(url!);
      throw new FridayError('INVALID_REQUEST', known ? `Method ${req.method} is not allowed on ${url}.` : `No route ${req.method} ${url}.`, { status: known ? 405 : 404 });
    } catch (e) {
      const err = toFridayError(e);
      const status = typeof err.details?.status === 'number' ? err.details.status : STATUS[err.code] ?? 500;
      if (!res.headersSent) send(res, status, JSON.stringify(errorBody(err)), 'application/json');
      else res.end();
    }
  }

  private health(res: ServerResponse): void {
    if (this.loadError) return send(res, 503, JSON.stringify({ status: 'error', error: this.loadError.message }), 'application/json');
    if (!this.engine) return send(res, 503, JSON.stringify({ status: 'loading' }), 'application/json');
    if (this.draining) return send(res, 503, JSON.stringify({ status: 'draining' }), 'application/json');
    send(res, 200, JSON.stringify({ status: 'ok', ...this.engine.stats() }), 'application/json');
  }

  private models(res: ServerResponse): void {
    const data = this.engine ? [{ id: this.engine.info.model, object: 'model', created: 0, owned_by: 'friday', context_length: this.engine.info.contextLength }] : [];
    send(res, 200, JSON.stringify({ object: 'list', data }), 'application/json');
  }

  private ready(): Engine {
    if (this.loadError) throw this.loadError;
    if (this.draining) throw new FridayError('ENGINE_CLOSED', 'The server is shutting down.');
    if (!this.engine) throw new FridayError('ENGINE_CLOSED', 'The model is still loading; retry shortly.', { status: 503 });
    return this.engine;
  }

  private async generate(req: IncomingMessage, res: ServerResponse, chat: boolean): Promise<void> {
    const engine = this.ready();
    const body = await readJson(req, this.opts.maxBodyBytes ?? 4 << 20);
    validateBody(body, chat);
    const ac = new AbortController();
    this.inflight.add(ac);
    // A client that goes away aborts its request, freeing its KV pages at the next step.
    const onClose = () => { if (!res.writableFinished) ac.abort(); };
    res.on('close', onClose);
    try {
      const stream = body.stream === true;
      const result = chat
        ? await engine.chat.completions.create({ ...(body as unknown as ChatCompletionParams), stream } as ChatCompletionParams & { stream: false }, { signal: ac.signal })
        : await engine.completions.create({ ...(body as unknown as CompletionParams), stream } as CompletionParams & { stream: false }, { signal: ac.signal });
      if (!stream) return send(res, 200, JSON.stringify(result), 'application/json');
      await writeSse(res, result as unknown as AsyncIterable<unknown>);
    } finally {
      res.off('close', onClose);
      this.inflight.delete(ac);
      if (this.inflight.size === 0) this.onIdle?.();
    }
  }
}

async function writeSse(res: ServerResponse, chunks: AsyncIterable<unknown>): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  try {
    for await (const chunk of chunks) {
      if (res.destroyed) return;
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    }
    res.write('data: [DONE]\n\n');
  } catch (e) {
    // Headers are gone: the error travels as an SSE event, as OpenAI-compatible servers do.
    if (!res.destroyed) res.write(`data: ${JSON.stringify(errorBody(toFridayError(e)))}\n\n`);
  }
  res.end();
}

function send(res: ServerResponse, status: number, body: string, type: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readJson(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) throw new FridayError('INVALID_REQUEST', `Request body larger than ${limit} bytes.`, { status: 413 });
    parts.push(c as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch (e) {
    throw new FridayError('INVALID_REQUEST', `Request body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new FridayError('INVALID_REQUEST', 'Request body must be a JSON object.');
  return body as Record<string, unknown>;
}

function validateBody(b: Record<string, unknown>, chat: boolean): void {
  if (chat && !Array.isArray(b.messages)) throw new FridayError('INVALID_REQUEST', '`messages` is required and must be an array.', { param: 'messages' });
  if (!chat && b.prompt === undefined) throw new FridayError('INVALID_REQUEST', '`prompt` is required.', { param: 'prompt' });
  if (b.stream !== undefined && typeof b.stream !== 'boolean') throw new FridayError('INVALID_REQUEST', '`stream` must be a boolean.', { param: 'stream' });
}
