import { describe, expect, it } from 'vitest';
import { FridayError, toFridayError } from '../../src/api/errors.js';

describe('FridayError', () => {
  it('round-trips through JSON with its code and details', () => {
    const e = new FridayError('GGUF_INVALID', 'bad magic at byte 0', { offset: 0 });
    const back = FridayError.fromJSON(JSON.parse(JSON.stringify(e)));
    expect(back).toBeInstanceOf(FridayError);
    expect(back.code).toBe('GGUF_INVALID');
    expect(back.message).toBe('bad magic at byte 0');
    expect(back.details).toEqual({ offset: 0 });
  });
  it('wraps foreign errors and maps AbortError to ABORTED', () => {
    expect(toFridayError(new RangeError('x')).code).toBe('INTERNAL');
    const abort = new DOMException('stop', 'AbortError');
    expect(toFridayError(abort).code).toBe('ABORTED');
  });
});
