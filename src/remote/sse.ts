// Incremental Server-Sent Events parser (WHATWG "event stream interpretation"): bytes arrive in
// arbitrary pieces — a line, an event, even a UTF-8 character or a CRLF may be split across reads.
// Comments (`: ping`) are keep-alives and are counted, not dispatched. An event is dispatched on a
// blank line; a trailing event without one is discarded at end of stream, as the spec says.
import { FridayError } from '../api/errors.js';

export interface SseEvent {
  /** `event:` field, default "message". */
  event: string;
  /** `data:` lines joined with "\n". */
  data: string;
  /** Last event id seen (`id:`), if any. */
  id?: string;
}

// Only whole lines are decoded (see decodeLines), so one stateless decoder serves every parser.
// ignoreBOM: a byte order mark is stripped once per stream, in push(), not at every decode.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** Shared and never written: what push() returns when a read completes no event. */
const NO_EVENTS: SseEvent[] = [];

export class SseParser {
  private buf = '';
  /** The event's `data:` lines: the first, and the rest (rare) in an array made when needed. */
  private data0 = '';
  private dataRest: string[] | undefined;
  private hasData = false;
  private event = '';
  private lastId: string | undefined;
  /** Bytes after the last line terminator seen: an unfinished line, maybe an unfinished character. */
  private tailBytes: Uint8Array | undefined;
  private started = false;
  /** Comment lines seen (keep-alive pings). */
  comments = 0;

  /** @param maxLineChars a line longer than this without a terminator is a protocol error (a runaway server). */
  constructor(private readonly maxLineChars = 4 << 20) {}

  /** Feeds bytes (or text); returns the events completed by them. */
  push(chunk: Uint8Array | string): SseEvent[] {
    let s = typeof chunk === 'string' ? chunk : this.decodeLines(chunk);
    if (!this.started && s.length > 0) {
      this.started = true;
      if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    }
    this.buf += s;
    return this.drain(false);
  }

  /** End of stream: processes a final unterminated line; an undispatched event is dropped. */
  end(): SseEvent[] {
    if (this.tailBytes) this.buf += utf8.decode(this.tailBytes);
    this.tailBytes = undefined;
    return this.drain(true);
  }

  /**
   * The text of `bytes` up to its last CR or LF; the rest waits for the next read. No UTF-8
   * sequence contains a CR or LF byte, so that text is whole characters and decodes without
   * TextDecoder's streaming mode, which costs about three times as much per call.
   */
  private decodeLines(bytes: Uint8Array): string {
    let last = bytes.length - 1;
    while (last >= 0 && bytes[last] !== 10 && bytes[last] !== 13) last--;
    const tail = this.tailBytes;
    if (last < 0) {
      this.tailBytes = tail ? concat(tail, bytes) : bytes.slice();
      if (this.tailBytes.length > this.maxLineChars * 4) this.tooLong();
      return '';
    }
    // Most reads end at a line's end: decoded as they are (a subarray is an object per read).
    const whole = last + 1 === bytes.length;
    const head = whole ? bytes : bytes.subarray(0, last + 1);
    this.tailBytes = whole ? undefined : bytes.slice(last + 1);
    return utf8.decode(tail ? concat(tail, head) : head);
  }

  private tooLong(): never {
    throw new FridayError('REMOTE_PROTOCOL', `Server-sent event line longer than ${this.maxLineChars} characters.`, { kind: 'protocol' });
  }

  private drain(eof: boolean): SseEvent[] {
    // Most reads complete one event: an array of one (`[]` then push() would reserve 17 slots).
    let out: SseEvent[] | undefined;
    const b = this.buf;
    let pos = 0;
    for (;;) {
      let i = pos;
      // Find the next CR or LF.
      while (i < b.length) {
        const c = b.charCodeAt(i);
        if (c === 10 || c === 13) break;
        i++;
      }
      if (i >= b.length) break;
      // A CR at the very end may be the first half of a CRLF split across reads.
      if (b.charCodeAt(i) === 13 && i + 1 >= b.length && !eof) break;
      const line = b.slice(pos, i);
      pos = i + (b.charCodeAt(i) === 13 && b.charCodeAt(i + 1) === 10 ? 2 : 1);
      const ev = this.line(line);
      if (ev) out = out ? (out.push(ev), out) : [ev];
    }
    this.buf = pos > 0 ? b.slice(pos) : b;
    if (eof) {
      const ev = this.buf.length > 0 ? this.line(this.buf) : undefined;
      if (ev) out = out ? (out.push(ev), out) : [ev];
      this.buf = '';
      this.dataRest = undefined;
      this.hasData = false;
      this.event = '';
    } else if (this.buf.length > this.maxLineChars) {
      this.tooLong();
    }
    return out ?? NO_EVENTS;
  }

  /** One line; returns the event a blank line completes. */
  private line(line: string): SseEvent | undefined {
    if (line === '') {
      let ev: SseEvent | undefined;
      if (this.hasData) {
        ev = { event: this.event || 'message', data: this.dataRest ? [this.data0, ...this.dataRest].join('\n') : this.data0 };
        if (this.lastId !== undefined) ev.id = this.lastId;
      }
      // Let go of the data at once: it is a slice of the read's text, which would otherwise live
      // until the stream's next event.
      this.data0 = '';
      this.dataRest = undefined;
      this.hasData = false;
      this.event = '';
      return ev;
    }
    if (line.charCodeAt(0) === 58 /* ':' */) {
      this.comments++;
      return undefined;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        if (!this.hasData) this.data0 = value;
        else (this.dataRest ??= []).push(value);
        this.hasData = true;
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      default: // `retry` and unknown fields are ignored
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
