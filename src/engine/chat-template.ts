// Chat prompts from the GGUF's tokenizer.chat_template (Jinja), as llama.cpp and transformers do.
import { Template } from '@huggingface/jinja';
import { FridayError } from '../api/errors.js';
import type { ChatMessage } from '../api/types.js';

/**
 * Used when the model has no chat template. A plain transcript that small base models continue
 * sensibly; documented in the README:
 *   "System: ...\n\nUser: ...\n\nAssistant:" (the assistant turn is left open)
 */
export const FALLBACK_CHAT_TEMPLATE =
  "{% for m in messages %}{{ m.role | capitalize }}: {{ m.content }}\n\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}";

export interface ChatTemplateContext {
  bosToken: string;
  eosToken: string;
}

export class ChatTemplate {
  private readonly template: Template;
  readonly source: string;
  readonly isFallback: boolean;

  constructor(source: string | undefined, private readonly ctx: ChatTemplateContext) {
    this.isFallback = !source;
    this.source = source ?? FALLBACK_CHAT_TEMPLATE;
    try {
      this.template = new Template(this.source);
    } catch (e) {
      throw new FridayError('TOKENIZER_INVALID', `The model's chat template does not parse: ${(e as Error).message}`);
    }
  }

  /**
   * Renders messages with the assistant turn opened (add_generation_prompt), or, with
   * `continueFinal`, ending inside the last message (a partial assistant reply) so generation
   * continues it: the conversation is rendered closed and cut right after that message's text, as
   * vLLM and transformers do for `continue_final_message`.
   */
  render(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean; continueFinal?: boolean } = {}): string {
    if (!Array.isArray(messages) || messages.length === 0) throw new FridayError('INVALID_REQUEST', '`messages` must be a non-empty array.');
    for (const [i, m] of messages.entries()) {
      if (!m || typeof m.content !== 'string' || !['system', 'user', 'assistant', 'tool'].includes(m.role)) {
        throw new FridayError('INVALID_REQUEST', `messages[${i}] needs a role (system, user, assistant or tool) and string content.`);
      }
    }
    if (opts.continueFinal && opts.addGenerationPrompt) {
      throw new FridayError('INVALID_REQUEST', '`continue_final_message` and `add_generation_prompt` cannot both be true: set add_generation_prompt to false.', { param: 'add_generation_prompt' });
    }
    const text = this.renderRaw(messages, opts.continueFinal ? false : opts.addGenerationPrompt ?? true);
    return opts.continueFinal ? cutAfterFinal(text, messages[messages.length - 1]!) : text;
  }

  private renderRaw(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return this.template.render({ messages, add_generation_prompt: addGenerationPrompt, bos_token: this.ctx.bosToken, eos_token: this.ctx.eosToken });
    } catch (e) {
      throw new FridayError('INVALID_REQUEST', `The chat template failed on these messages: ${(e as Error).message}`);
    }
  }
}

/** The rendered conversation up to the end of the final message's text (templates may trim it). */
function cutAfterFinal(text: string, last: ChatMessage): string {
  const content = last.content.trim();
  const at = content ? text.lastIndexOf(content) : -1;
  if (last.role !== 'assistant' || at < 0) {
    throw new FridayError('INVALID_REQUEST', '`continue_final_message` needs the last message to be a non-empty assistant message that the chat template renders.', { param: 'messages' });
  }
  return text.slice(0, at + content.length);
}
