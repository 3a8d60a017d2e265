// The local engine: continuous batching on one GPU. Each loop turn is one scheduler step:
// plan = schedule(); one forward pass (one submit) over every scheduled row; sample on the GPU;
// events = update(plan, sampled); route events to the per-request streams.
import { abortedError, FridayError, toFridayError, waitAtMost } from '../api/errors.js';
import type { Engine, EngineInfo, EngineStats, GenerateRequest, GenerationStream, RequestOptions } from '../api/types.js';
import { Scheduler } from '../scheduler/scheduler.js';
import type { SchedulerEvent, StepPlan } from '../scheduler/types.js';
import { openaiFacade } from '../stream/openai.js';
import { stopList } from '../stream/stop.js';
import type { ByteSource } from '../model/source/types.js';
import { ChatTemplate } from './chat-template.js';
import type { StepBatch } from './forward.js';
import { SAMPLE_WINDOW } from './forward-ops.js';
import type { SampleRowParams } from '../gpu/kernels/sample.js';
import { EngineMetrics, prometheusText } from './metrics.js';
import { LoadedModel, type LoadOptions } from './model.js';
import { RequestState, type RowSampling } from './request.js';

export interface LocalEngineOptions extends LoadOptions {
  /** Name reported in responses; default general.name. */
  modelName?: string;
  /** Waiting requests beyond this get QUEUE_FULL. */
  maxQueue?: number;
  enablePrefixCaching?: boolean;
  /** Events buffered per stream before the sequence is paused for its consumer. */
  streamBuffer?: number;
}

let nextId = 0;

export class LocalEngine implements Engine {
  readonly info: EngineInfo;
  readonly metrics = new EngineMetrics();
  private readonly scheduler: Scheduler;
  private readonly requests = new Map<string, RequestState>();
  private readonly template: ChatTemplate;
  private readonly batch: StepBatch & { rowSeq: Int32Array };
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private closed = false;
  private fatal: FridayError | undefined;
  readonly chat;
  readonly completions;

  private constructor(readonly model: LoadedModel, private readonly opts: LocalEngineOptions) {
    const kv = model.kv.shape;
    this.scheduler = new Scheduler({
      numPages: kv.numPages, pageSize: kv.pageSize, maxSeqs: kv.maxSeqs, maxBatchedTokens: model.forward.opts.maxBatchTokens,
      maxModelLen: model.contextLength, maxQueue: opts.maxQueue, enablePrefixCaching: opts.enablePrefixCaching,
    });
    const T = model.forward.opts.maxBatchTokens;
    this.batch = { tokens: new Uint32Array(T), positions: new Uint32Array(T), slots: new Uint32Array(T), outRows: new Uint32Array(kv.maxSeqs), rowSeq: new Int32Array(kv.maxSeqs) };
    const tok = model.tokenizer;
    const piece = (id: number | undefined) => (id === undefined ? '' : tok.decode([id]));
    const chatSrc = model.gguf.metadata.get('tokenizer.chat_template');
    this.template = new ChatTemplate(typeof chatSrc === 'string' ? chatSrc : undefined, { bosToken: piece(tok.bosId), eosToken: piece(tok.eosId) });
    this.info = { kind: 'local', model: opts.modelName ?? model.config.name, contextLength: model.contextLength, adapter: { ...model.gpu.info } };
    const facade = openaiFacade({
      generate: (r, o) => this.generate(r, o),
      chatPrompt: (messages, o) => this.template.render(messages, o),
      modelName: () => this.info.model,
      decodeToken: (id) => tok.decode([id]),
    });
    this.chat = facade.chat;
    this.completions = facade.completions;
    model.gpu.onLost((e) => this.failAll(e));
  }

  static async create(source: ByteSource, opts: LocalEngineOptions = {}): Promise<LocalEngine> {
    const maxSeqs = opts.maxSeqs ?? 8;
    const model = await LoadedModel.load(source, { maxBatchTokens: 256, ...opts, maxSeqs });
    return new LocalEngine(model, opts);
  }

  generate(req: GenerateRequest, options: RequestOptions = {}): GenerationStream {
    const id = `req-${++nextId}`;
    const state = this.admit(id, req);
    const signal = options.signal;
    if (state && signal) {
      const onAbort = () => this.abort(id, abortedError());
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
    return state ? state.channel : failedStream(this.lastAdmitError!);
  }

  private lastAdmitError: FridayError | undefined;

  /** Validates and queues a request; on failure returns undefined and leaves the error in lastAdmitError. */
  private admit(id: string, req: GenerateRequest): RequestState | undefined {
    try {
      if (this.closed) throw new FridayError('ENGINE_CLOSED', 'The engine is closed.');
      if (this.fatal) throw this.fatal;
      const tok = this.model.tokenizer;
      const promptIds = typeof req.prompt === 'string' ? tok.encode(req.prompt, { addSpecial: true }) : [...req.prompt];
      if (promptIds.some((t) => !Number.isInteger(t) || t < 0 || t >= this.model.config.vocabSize)) throw new FridayError('INVALID_REQUEST', 'Prompt token ids must be integers in [0, vocab size).');
      const maxTokens = req.max_tokens ?? Math.max(1, this.model.contextLength - promptIds.length);
      const sampling: RowSampling = {
        temperature: req.temperature ?? 0, topK: req.top_k ?? 0, topP: req.top_p ?? 1, minP: req.min_p ?? 0,
        repeatPenalty: req.repeat_penalty ?? 1, seed: BigInt.asUintN(64, BigInt(req.seed ?? Math.floor(Math.random() * 2 ** 32))),
        logprobs: req.logprobs || req.top_logprobs ? 1 + (req.top_logprobs ?? 0) : 0,
      };
      const stops = stopList(req.stop);
      const state = new RequestState(id, promptIds, sampling, stops, tok, this.opts.streamBuffer ?? 256, {
        // A full stream buffer pauses the sequence (it keeps its pages); draining resumes it.
        onOverflow: () => this.scheduler.setPaused(id, true),
        onDrain: () => { this.scheduler.setPaused(id, false); this.kick(); },
        onCancel: () => this.abort(id, new FridayError('ABORTED', 'The consumer stopped reading.')),
      });
      const eos = [...new Set([tok.eosId, tok.eotId].filter((x): x is number => x !== undefined))];
      this.scheduler.add({ id, promptTokens: promptIds, maxTokens, eosTokenIds: eos, priority: req.priority });
      this.requests.set(id, state);
      this.metrics.onRequest();
      this.kick();
      return state;
    } catch (e) {
      this.lastAdmitError = toFridayError(e);
      this.metrics.onRejected(this.lastAdmitError.code);
      return undefined;
    }
  }

  private abort(id: string, e: FridayError): void {
    const state = this.requests.get(id);
    if (!state || state.finished) return;
    this.scheduler.abort(id); // frees its pages now, even mid-step
    this.requests.delete(id);
    state.fail(e);
    this.metrics.onFinished('abort');
    this.wake?.(); // the loop may be waiting on this sequence's consumer: it has one less to wait for
  }

  private kick(): void {
    this.wake?.();
    this.loopDone ??= this.loop().finally(() => { this.loopDone = undefined; });
  }

  /** Runs steps until there is nothing to do; a new request restarts it. */
  private async loop(): Promise<void> {
    while (!this.closed && this.scheduler.hasWork()) {
      const plan = this.scheduler.schedule();
      if (plan.seqs.length === 0) {
        // Everything runnable is paused on slow consumers: sleep until a drain, a new request, an
        // abort, a lost device or close() wakes us (each calls wake()), with no timer polling.
        await new Promise<void>((r) => { this.wake = r; });
        this.wake = undefined;
        continue;
      }
      try {
        const sampled = await this.runStep(plan);
        this.route(this.scheduler.update(plan, sampled));
      } catch (e) {
        this.failAll(toFridayError(e));
        return;
      }
    }
  }

  /** Packs the plan into the flat batch, runs one forward pass, returns one sampled id per sampling seq. */
  private async runStep(plan: StepPlan): Promise<(number | undefined)[]> {
    const b = this.batch, kv = this.model.kv;
    let n = 0, nOut = 0;
    const rows: SampleRowParams[] = [], wantLp: boolean[] = [];
    plan.seqs.forEach((s, i) => {
      kv.setPages(s.slot, s.pageTable);
      for (let j = 0; j < s.tokens.length; j++, n++) {
        b.tokens[n] = s.tokens[j]!; b.positions[n] = s.startPos + j; b.slots[n] = s.slot;
      }
      if (s.sample) {
        const st = this.requests.get(s.seqId);
        b.outRows[nOut] = n - 1; b.rowSeq[nOut++] = i;
        rows.push(st ? rowParams(st) : { temperature: 0, seed: 0, counter: 0 });
        wantLp.push((st?.sampling.logprobs ?? 0) > 0);
      }
    });
    const t0 = performance.now();
    const res = await this.model.forward.sample(
      { tokens: b.tokens.subarray(0, n), positions: b.positions.subarray(0, n), slots: b.slots.subarray(0, n), outRows: b.outRows.subarray(0, nOut) },
      rows, wantLp,
    );
    this.metrics.onStep(n, plan.seqs.length, performance.now() - t0);
    const sampled: (number | undefined)[] = new Array(plan.seqs.length).fill(undefined);
    this.pendingLogprobs.clear();
    for (let r = 0; r < nOut; r++) {
      const seq = plan.seqs[b.rowSeq[r]!]!;
      sampled[b.rowSeq[r]!] = res[r]!.token;
      this.pendingLogprobs.set(seq.seqId, res[r]!);
    }
    return sampled;
  }

  private readonly pendingLogprobs = new Map<string, { token: number; logprob?: number; top?: { token: number; logprob: number }[] }>();

  private route(events: SchedulerEvent[]): void {
    for (const ev of events) {
      const state = this.requests.get(ev.seqId);
      if (!state) continue;
      if (ev.type === 'token') {
        const s = this.pendingLogprobs.get(ev.seqId);
        this.metrics.onToken(state, performance.now());
        if (state.onToken({ token: ev.token, logprob: s?.logprob, top: s?.top }, ev.index)) {
          this.route(this.scheduler.finish(ev.seqId, 'stop'));
        }
      } else if (ev.type === 'finished') {
        this.requests.delete(ev.seqId);
        if (ev.reason === 'abort') continue;
        state.finish(ev.reason, ev.numGenerated, ev.cachedPromptTokens);
        this.metrics.onFinished(ev.reason);
      }
    }
  }

  private failAll(e: FridayError): void {
    this.fatal ??= e;
    for (const [id, st] of this.requests) {
      this.scheduler.abort(id);
      st.fail(e);
    }
    this.requests.clear();
    this.wake?.();
  }

  stats(): EngineStats {
    const s = this.scheduler.stats();
    return {
      running: s.running, waiting: s.waiting, kvPagesUsed: s.pagesUsed, kvPagesTotal: this.model.kv.shape.numPages,
      prefixCacheHitRate: s.prefixHitRate, tokensGenerated: this.metrics.tokens, steps: this.metrics.steps,
    };
  }

  /** Prometheus text for /metrics. */
  prometheus(): string {
    const s = this.scheduler.stats();
    return prometheusText(this.metrics, { queueDepth: s.waiting, running: s.running, paused: s.paused, kvPagesUsed: s.pagesUsed, kvPagesTotal: this.model.kv.shape.numPages, prefixQueries: s.prefixQueries, prefixHits: s.prefixHits });
  }

  get schedulerStats() {
    return this.scheduler.stats();
  }

  /** Stops accepting requests, lets running ones finish within `drainMs`, aborts the rest, frees the GPU. */
  async close(drainMs = 0): Promise<void> {
    if (this.closed && !this.loopDone) return;
    if (drainMs > 0 && this.loopDone) await waitAtMost(this.loopDone, drainMs);
    this.closed = true;
    this.failAll(new FridayError('ENGINE_CLOSED', 'The engine was closed before this request finished.'));
    await this.loopDone;
    this.model.destroy();
  }
}

/** GPU sampler parameters for a request's next token; the draw is keyed by (seed, token index). */
function rowParams(st: RequestState): SampleRowParams {
  const s = st.sampling;
  const g = st.generated;
  const recent = g.length >= SAMPLE_WINDOW ? g : st.promptIds.slice(-(SAMPLE_WINDOW - g.length)).concat(g);
  return { temperature: s.temperature, topK: s.topK, topP: s.topP, minP: s.minP, repeatPenalty: s.repeatPenalty, seed: s.seed, counter: g.length, recent };
}

function failedStream(e: FridayError): GenerationStream {
  const it = async function* (): AsyncGenerator<never> { throw e; };
  return {
    [Symbol.asyncIterator]: () => it(),
    toReadableStream: () => new ReadableStream({ start: (c) => c.error(e) }),
  };
}
