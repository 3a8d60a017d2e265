// What the CLI needs for `friday serve --fallback URL[,URL...]` and `friday generate --remote URL`
// (Node only: it reads process.env). See the wiring notes at the bottom of this file.
import { FridayError } from '../api/errors.js';
import type { Engine, FinishReason, GenerateRequest, Usage } from '../api/types.js';
import type { RemoteEndpointConfig } from './endpoint.js';
import { RemoteEngine } from './engine.js';
import { RouterEngine, type RoutingPolicy } from './router.js';

/**
 * `URL[,URL...]`; each item is a base URL or `name=URL`, optionally followed by `;key=value`
 * settings: `weight`, `max` (max concurrency), `model`, `continue` (continueAssistant).
 * e.g. `http://10.0.0.2:8080,big=http://10.0.0.3:8000/v1;weight=3;max=64;model=llama-3-8b`
 */
export function parseEndpointList(spec: string, defaults: Partial<RemoteEndpointConfig> = {}): RemoteEndpointConfig[] {
  const items = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new FridayError('INVALID_REQUEST', 'Expected one or more endpoint URLs separated by commas.');
  return items.map((item) => {
    const [head, ...settings] = item.split(';');
    const eq = head!.indexOf('=');
    const named = eq > 0 && !head!.slice(0, eq).includes('/') && !head!.slice(0, eq).includes(':');
    const cfg: RemoteEndpointConfig = { ...defaults, url: named ? head!.slice(eq + 1) : head! };
    if (named) cfg.name = head!.slice(0, eq);
    for (const s of settings) {
      const [k, v = ''] = s.split('=');
      const num = () => {
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0) throw new FridayError('INVALID_REQUEST', `Endpoint setting ${k}=${v}: expected a positive number.`);
        return n;
      };
      if (k === 'weight') cfg.weight = num();
      else if (k === 'max') cfg.maxConcurrency = Math.floor(num());
      else if (k === 'model') cfg.model = v;
      else if (k === 'continue') cfg.continueAssistant = v !== 'false' && v !== '0';
      else throw new FridayError('INVALID_REQUEST', `Unknown endpoint setting "${k}" (weight, max, model, continue).`);
    }
    if (!/^https?:\/\//.test(cfg.url)) throw new FridayError('INVALID_REQUEST', `"${cfg.url}" is not an http(s) URL.`);
    return cfg;
  });
}

export interface FallbackOptions {
  /** Default `prefer-local`: local first, overflow and failover to the fallback endpoints. */
  policy?: RoutingPolicy;
  /** Bearer key for the endpoints; default $FRIDAY_REMOTE_API_KEY. */
  apiKey?: string;
  /** Local waiting requests above this go to the fallback. Router default 4. */
  overflowWaiting?: number;
  /**
   * Serve locally on a software (CPU) adapter. Default true here: `friday serve` already runs on
   * whatever adapter it found; pass false to send everything to the fallback when there is no GPU.
   */
  allowSoftware?: boolean;
  healthIntervalMs?: number;
}

/**
 * `friday serve --fallback URL[,URL...]`: a RouterEngine around the local engine promise. Requests
 * that arrive while the model loads, or that would queue locally, or whose local device is lost
 * (mid-stream too), go to the endpoints. Hand the result to `new FridayServer(router, …)`.
 */
export function createFallbackRouter(local: Promise<Engine>, fallback: string, opts: FallbackOptions = {}): RouterEngine {
  const apiKey = opts.apiKey ?? process.env.FRIDAY_REMOTE_API_KEY;
  return new RouterEngine({
    policy: opts.policy ?? 'prefer-local',
    local,
    remote: { endpoints: parseEndpointList(fallback), apiKey, healthIntervalMs: opts.healthIntervalMs },
    allowSoftware: opts.allowSoftware ?? true,
    overflowWaiting: opts.overflowWaiting,
    waitForLocal: false,
  });
}

/** The CLI's generate flags (as `friday generate` parses them). */
export interface CliSampling {
  maxTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  seed?: number;
}

/** The fields `friday generate --json` prints, for a remote run. */
export interface RemoteGenerateResult {
  /** Prompt token ids when the server reports them (vLLM does in streams; Friday's server in non-streamed answers), else null. */
  prompt_tokens: number[] | null;
  /** Generated token ids (-1 where the server returned none). */
  tokens: number[];
  text: string;
  finish_reason: FinishReason;
  timings: { load_ms: number; prefill_ms: number; decode_ms: number; decode_tokens_per_s: number };
  /** The adapter is the server's business: null for a remote run. */
  adapter: null;
  served_by: string;
  usage: Usage;
}

export interface RemoteGenerateOptions {
  apiKey?: string;
  model?: string;
  /** Each piece of text as it arrives (the CLI writes it to stdout when not --json). */
  onText?: (piece: string) => void;
  signal?: AbortSignal;
}

export function cliRequest(prompt: string, p: CliSampling): GenerateRequest {
  return { prompt, max_tokens: p.maxTokens, temperature: p.temperature, top_k: p.topK, top_p: p.topP, min_p: p.minP, repeat_penalty: p.repeatPenalty, seed: p.seed };
}

/** `friday generate --remote URL`: runs the request on a server, streaming; returns the --json fields. */
export async function generateRemote(url: string, req: GenerateRequest, opts: RemoteGenerateOptions = {}): Promise<RemoteGenerateResult> {
  const engine = new RemoteEngine({
    endpoints: [{ url, ...(opts.model ? { model: opts.model } : {}) }],
    apiKey: opts.apiKey ?? process.env.FRIDAY_REMOTE_API_KEY,
    healthIntervalMs: 0,
  });
  try {
    const t0 = performance.now();
    let tFirst: number | undefined;
    const tokens: number[] = [];
    let text = '';
    for await (const ev of engine.generate(req, { signal: opts.signal })) {
      if (ev.text) {
        text += ev.text;
        opts.onText?.(ev.text);
      }
      if (!ev.done) {
        tFirst ??= performance.now();
        tokens.push(ev.token);
        continue;
      }
      const end = performance.now();
      const prefill = (tFirst ?? end) - t0;
      const decode = tFirst === undefined ? 0 : end - tFirst;
      const r = (x: number) => Math.round(x * 100) / 100;
      return {
        prompt_tokens: ev.prompt_tokens ?? null,
        tokens,
        text,
        finish_reason: ev.finish_reason,
        timings: { load_ms: 0, prefill_ms: r(prefill), decode_ms: r(decode), decode_tokens_per_s: r(tokens.length > 1 && decode > 0 ? ((tokens.length - 1) * 1000) / decode : 0) },
        adapter: null,
        served_by: ev.served_by,
        usage: ev.usage,
      };
    }
    throw new FridayError('REMOTE_PROTOCOL', 'The stream ended without a final event.');
  } finally {
    await engine.close();
  }
}

/*
Wiring (src/cli/serve.ts):
  flags: add  fallback: { type: 'string' }, 'overflow-queue': { type: 'string' }
  import { createFallbackRouter } from '../remote/cli-support.js';
  after `const loading = LocalEngine.create(...).then(...)`:
    const fallback = typeof flags.fallback === 'string' ? flags.fallback : undefined;
    const overflow = optNumber(flags, 'overflow-queue', isInt(0), 'an integer >= 0');
    const router = fallback ? createFallbackRouter(loading, fallback, { overflowWaiting: overflow }) : undefined;
    const server = new FridayServer(router ?? loading, { ..., metrics: () => router?.prometheus() ?? engine?.prometheus() ?? '' });
  and if router: log(`fallback: ${router.remote!.endpoints.map((e) => e.name).join(', ')}`).
  `loading.catch(() => undefined)` stays (the router observes the rejection itself).

Wiring (src/cli/generate.ts):
  flags: add  remote: { type: 'string' }; --model becomes optional when --remote is given.
  if (typeof flags.remote === 'string') {
    const res = await generateRemote(flags.remote, cliRequest(prompt, params), { onText: json ? undefined : (s) => process.stdout.write(s) });
    process.stdout.write(json ? JSON.stringify(res) + '\n' : '\n');
    return 0;
  }
*/
