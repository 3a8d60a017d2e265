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

  /** Renders messages with the assistant turn opened (add_generation_prompt). */
  render(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    if (!Array.isArray(messages) || messages.length === 0) throw new FridayError('INVALID_REQUEST', '`messages` must be a non-empty array.');
    for (const [i, m] of messages.entries()) {
      if (!m || typeof m.content !== 'string' || !['system', 'user', 'assistant', 'tool'].includes(m.role)) {
        throw new FridayError('INVALID_REQUEST', `messages[${i}] needs a role (system, user, assistant or tool) and string content.`);
      }
    }
    try {
      return this.template.render({
        messages,
        add_generation_prompt: opts.addGenerationPrompt ?? true,
        bos_token: this.ctx.bosToken,
        eos_token: this.ctx.eosToken,
      });
    } catch (e) {
      throw new FridayError('INVALID_REQUEST', `The chat template failed on these messages: ${(e as Error).message}`);
    }
  }
}
