// One in-flight request as the engine loop sees it: turns sampled ids into stream events with
// incremental detokenization, held-back stop strings, logprobs and usage.
import { FridayError } from '../api/errors.js';
import type { FinishReason, GenerateEvent, TopLogprob } from '../api/types.js';
import { Channel } from '../stream/channel.js';
import { StopMatcher } from '../stream/stop.js';
import type { StreamingDecoder, Tokenizer } from '../tokenizer/index.js';

export interface RowSampling {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repeatPenalty: number;
  seed: bigint;
  /** 0 = no logprobs; otherwise the chosen token's logprob and this many - 1 alternatives. */
  logprobs: number;
}

export interface SampledToken {
  token: number;
  logprob?: number;
  top?: { token: number; logprob: number }[];
}

export class RequestState {
  readonly channel: Channel<GenerateEvent>;
  private readonly decoder: StreamingDecoder;
  private readonly stop: StopMatcher;
  /** Generated ids, kept for the repetition penalty window. */
  readonly generated: number[] = [];
  readonly createdAt = performance.now();
  firstTokenAt: number | undefined;
  lastTokenAt: number | undefined;
  finished = false;

  constructor(
    readonly id: string,
    readonly promptIds: number[],
    readonly sampling: RowSampling,
    stops: readonly string[],
    private readonly tokenizer: Tokenizer,
    bufferSize: number,
    hooks: { onOverflow: () => void; onDrain: () => void; onCancel: () => void },
  ) {
    this.channel = new Channel(bufferSize, hooks);
    this.decoder = tokenizer.createDecoder({ atStart: promptIds.length === (tokenizer.addBos ? 1 : 0) && promptIds[0] === tokenizer.bosId, skipSpecial: true });
    this.stop = new StopMatcher(stops);
  }

  /** A sampled token: emit its text (possibly held). Returns true when a stop string ended the request. */
  onToken(t: SampledToken, index: number): boolean {
    const now = performance.now();
    this.firstTokenAt ??= now;
    this.lastTokenAt = now;
    this.generated.push(t.token);
    const { emit, stopped } = this.stop.push(this.decoder.push(t.token));
    if (stopped) {
      // Text before the stop string still goes out, with the final event.
      this.stopTail = emit;
      return true;
    }
    const top: TopLogprob[] | undefined = t.top?.slice(0, Math.max(0, this.sampling.logprobs - 1)).map((x) => ({ token: x.token, text: this.tokenizer.decode([x.token]), logprob: x.logprob }));
    this.channel.push({ done: false, token: t.token, text: emit, index, ...(t.logprob !== undefined ? { logprob: t.logprob, top_logprobs: top ?? [] } : {}) });
    return false;
  }

  finish(reason: FinishReason, numGenerated: number, cachedTokens: number): void {
    if (this.finished) return;
    this.finished = true;
    // After a stop string only the text before it is released; otherwise whatever was held back.
    const tail = this.stopTail ?? this.stop.flush() + this.decoder.flush();
    this.channel.push({
      done: true, text: tail, index: numGenerated, finish_reason: reason, served_by: 'local', prompt_tokens: this.promptIds,
      usage: { prompt_tokens: this.promptIds.length, completion_tokens: numGenerated, total_tokens: this.promptIds.length + numGenerated, cached_tokens: cachedTokens },
    });
    this.channel.close();
  }

  /** Set when a stop string ended the request: the text that preceded it in the last piece. */
  private stopTail: string | undefined;

  fail(e: FridayError): void {
    if (this.finished) return;
    this.finished = true;
    this.channel.fail(e);
  }
}
