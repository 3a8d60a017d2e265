// Chat prompts: the model's Jinja template (the embedded default model's, which ships in the repo)
// and the fallback transcript, with an opened assistant turn or continuing a partial assistant
// reply (vLLM's continue_final_message, which a mid-stream chat failover sends).
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChatTemplate } from '../../src/engine/chat-template.js';
import { readGGUF } from '../../src/model/gguf/reader.js';
import { FileSource } from '../../src/model/source/file.js';
import type { ChatMessage } from '../../src/api/types.js';

const MODEL = fileURLToPath(new URL('../../models/friday-default.gguf', import.meta.url));
const CTX = { bosToken: '<s>', eosToken: '</s>' };
const turns: ChatMessage[] = [{ role: 'user', content: 'Tell me a story.' }];

describe('ChatTemplate', () => {
  let model: ChatTemplate;
  beforeAll(async () => {
    const src = await FileSource.open(MODEL);
    try {
      const gguf = await readGGUF(src);
      model = new ChatTemplate(gguf.metadata.get('tokenizer.chat_template') as string, CTX);
    } finally {
      await src.close();
    }
  });

  it('continue_final_message ends the prompt inside the partial assistant reply', () => {
    const open = model.render(turns);
    expect(open).toBe('<|user|>Tell me a story.<|assistant|>');
    const partial = [...turns, { role: 'assistant' as const, content: 'Once upon a time' }];
    // Rendered closed, the reply ends with </s>; continued, it stops right after the text.
    expect(model.render(partial, { addGenerationPrompt: false })).toBe('<|user|>Tell me a story.<|assistant|>Once upon a time</s>');
    expect(model.render(partial, { continueFinal: true })).toBe(open + 'Once upon a time');
  });

  it('the fallback transcript continues too', () => {
    const t = new ChatTemplate(undefined, CTX);
    expect(t.render(turns)).toBe('User: Tell me a story.\n\nAssistant:');
    expect(t.render([...turns, { role: 'assistant', content: 'Once' }], { continueFinal: true })).toBe('User: Tell me a story.\n\nAssistant: Once');
  });

  it('refuses what cannot be continued, saying why', () => {
    expect(() => model.render(turns, { continueFinal: true })).toThrow(/last message to be a non-empty assistant message/);
    expect(() => model.render([...turns, { role: 'assistant', content: '' }], { continueFinal: true })).toThrow(/non-empty assistant/);
    expect(() => model.render([...turns, { role: 'assistant', content: 'x' }], { continueFinal: true, addGenerationPrompt: true })).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }));
  });
});
