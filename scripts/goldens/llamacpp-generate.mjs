#!/usr/bin/env node
// One llama.cpp (via node-llama-cpp) job per process; prints exactly one JSON line on stdout.
//
// node-llama-cpp is NOT a dependency of this repo. Install it elsewhere and point at it:
//   mkdir -p /tmp/llamacpp && cd /tmp/llamacpp && npm init -y && npm install node-llama-cpp
//   node scripts/goldens/llamacpp-generate.mjs --llamacpp-dir /tmp/llamacpp --model M.gguf --prompt-json '"Hello"' --max-new-tokens 16
//
// Modes (exactly one):
//   --prompt <text> | --prompt-json <json string>   greedy generation (BOS prepended by us, see below)
//   --tokenize <text> | --tokenize-json <json str>  tokenize only (add_special=false, parse_special=true)
//   --info                                          model / runtime metadata only
// Options:
//   --llamacpp-dir DIR   dir whose node_modules holds node-llama-cpp (or env LLAMACPP_DIR)
//   --model PATH         gguf file
//   --max-new-tokens N   (default 64)
//   --ctx N              context size (default 512)
//   --batch N            batch size (default = ctx; must be >= prompt length)
//   --threads N          CPU threads (default 1)
//   --flash-attention true|false|auto   (default true: llama.cpp's own default "auto" resolves to
//                        enabled on the CPU backend, and only FA-on reproduces the llama.cpp reference
//                        in /work/shared/fixtures/references)
//
// Why one job per process: breaking out of node-llama-cpp's evaluate() generator leaves the
// sequence in a state where the next evaluation can hang, and llama.cpp aborts the whole process
// (std::out_of_range) when an SPM vocab without <0xNN> byte tokens meets a non-ASCII character.

import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import path from "node:path";
import fs from "node:fs";
import zlib from "node:zlib";

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument: ${a}`);
    const key = a.slice(2);
    if (key === "info") { out.info = true; continue; }
    if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
    out[key] = argv[++i];
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const llamacppDir = args["llamacpp-dir"] ?? process.env.LLAMACPP_DIR;
if (!llamacppDir) throw new Error("pass --llamacpp-dir DIR (or env LLAMACPP_DIR): a directory with node_modules/node-llama-cpp");
if (!args.model) throw new Error("pass --model PATH.gguf");

const req = createRequire(path.join(path.resolve(llamacppDir), "package.json"));
const nlcEntry = req.resolve("node-llama-cpp");
function packageDirOf(file, name) {
  // "exports" does not expose package.json, so walk up from the resolved entry point.
  for (let d = path.dirname(file); d !== path.dirname(d); d = path.dirname(d)) {
    const pj = path.join(d, "package.json");
    if (fs.existsSync(pj) && JSON.parse(fs.readFileSync(pj, "utf8")).name === name) return d;
  }
  throw new Error(`cannot find package dir of ${name} from ${file}`);
}
const nlcPkgDir = packageDirOf(nlcEntry, "node-llama-cpp");
const nlcPkgPath = path.join(nlcPkgDir, "package.json");
const nlc = await import(pathToFileURL(nlcEntry).href);
const { getLlama, LlamaLogLevel, GgmlType } = nlc;
const ggmlTypeName = (t) => (typeof t === "number" && GgmlType?.[t] ? GgmlType[t] : t);

function readJsonSafe(p) { try { return JSON.parse(fs.readFileSync(p, "utf8")); } catch { return null; } }
const nlcVersion = readJsonSafe(nlcPkgPath)?.version ?? null;

const num = (v, d) => (v == null ? d : Number(v));
const ctxSize = num(args.ctx, 512);
const batchSize = num(args.batch, ctxSize);
const threads = num(args.threads, 1);
const maxNewTokens = num(args["max-new-tokens"], 64);
const faArg = args["flash-attention"] ?? "true";
if (!["true", "false", "auto"].includes(faArg)) throw new Error("--flash-attention must be true|false|auto");
const flashAttention = faArg === "auto" ? "auto" : faArg === "true";

// Collect llama.cpp's own log lines so we can record what it actually resolved (flash attn, KV types).
const logLines = [];
const llama = await getLlama({
  gpu: false,
  build: "never",           // never build from source, never download: use the bundled prebuilt CPU binary
  usePrebuiltBinaries: true,
  skipDownload: true,
  progressLogs: false,
  logLevel: LlamaLogLevel.debug,
  logger: (level, message) => { logLines.push(`[${level}] ${message}`); },
});

const model = await llama.loadModel({ modelPath: path.resolve(args.model), gpuLayers: 0 });
const md = model.fileInfo.metadata;
const tk = md?.tokenizer?.ggml ?? {};
const bos = model.tokens.bos;
const eos = model.tokens.eos;
const vocabSize = Array.isArray(tk.tokens) ? tk.tokens.length : null;

// BOS rule: tokenizer.ggml.add_bos_token if present; otherwise llama.cpp's default for the vocab type
// (SPM/"llama" -> true). We prepend BOS ourselves instead of letting llama.cpp add specials.
const addBosMeta = typeof tk.add_bos_token === "boolean" ? tk.add_bos_token : null;
const llamaDefaultAddBos = tk.model === "llama" || tk.model === "gemma" || tk.model == null ? true : null;
const addBos = addBosMeta ?? llamaDefaultAddBos ?? model.tokens.shouldPrependBosToken;
const bosRule = addBosMeta != null
  ? `tokenizer.ggml.add_bos_token=${addBosMeta} (metadata)`
  : `tokenizer.ggml.add_bos_token absent; llama.cpp default for tokenizer.ggml.model=${JSON.stringify(tk.model)} is add_bos=${llamaDefaultAddBos}`;

function eogIds() {
  const ids = [];
  if (vocabSize == null) return ids;
  for (let i = 0; i < vocabSize; i++) if (model.isEogToken(i)) ids.push(i);
  return ids;
}

// Best-effort llama.cpp build identification (node-llama-cpp does not expose llama_commit()).
function llamaBuildInfo() {
  const info = {};
  const binDir = path.join(nlcPkgDir, "..", "@node-llama-cpp", `${process.platform}-${process.arch}`, "bins", `${process.platform}-${process.arch}`);
  try {
    // build-info.cpp strings: LLAMA_BUILD_TARGET, LLAMA_COMPILER, LLAMA_COMMIT, then the "version: %s (build %d, commit %s)" format.
    const buf = fs.readFileSync(path.join(binDir, "libllama-common.so")).toString("latin1");
    const m = /\0([^\0]{1,64})\0([^\0]{1,64})\0([0-9a-f]{7,40})\0+version: %s \(build %d, commit %s\)/.exec(buf);
    if (m) Object.assign(info, { build_target: m[1], compiler: m[2], commit: m[3], source: "strings of libllama-common.so (LLAMA_COMMIT)" });
  } catch { /* ignore */ }
  try {
    // node-llama-cpp ships the llama.cpp source it built as a git bundle: "# v2 git bundle\n<sha> HEAD\n" + pack.
    const fd = fs.openSync(path.join(nlcPkgDir, "llama", "gitRelease.bundle"), "r");
    const head = Buffer.alloc(4096);
    fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    const m = /^# v2 git bundle\n([0-9a-f]{40}) ([^\n]+)\n/.exec(head.toString("latin1"));
    if (m) info.source_bundle_head = m[1];
    // First pack object is the (squashed) commit; its message names the upstream llama.cpp change.
    const p = head.indexOf("PACK");
    if (p >= 0) {
      let i = p + 12, c = head[i++];
      while (c & 0x80) c = head[i++];
      const body = zlib.inflateSync(head.subarray(i), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString("utf8");
      const msg = body.split("\n\n").slice(1).join("\n\n").replace(/## SQUASHED ##/, "").trim();
      if (msg) info.source_bundle_commit_message = msg.split("\n")[0];
    }
  } catch { /* ignore */ }
  return info;
}

function generatorInfo(extra = {}) {
  return {
    tool: "node-llama-cpp",
    node_llama_cpp_version: nlcVersion,
    llama_cpp_release: llama.llamaCppRelease ?? readJsonSafe(path.join(nlcPkgDir, "llama", "llama.cpp.info.json")),
    llama_cpp_build: llamaBuildInfo(),
    binary: {
      build_type: llama.buildType,
      gpu: llama.gpu,
      prebuilt_build_metadata: readJsonSafe(path.join(nlcPkgDir, "..", "@node-llama-cpp", `${process.platform}-${process.arch}`, "bins", `${process.platform}-${process.arch}`, "_nlcBuildMetadata.json")),
    },
    system_info: llama.systemInfo,
    node_version: process.version,
    ...extra,
  };
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function grepLog(re) {
  return logLines.filter((l) => re.test(l)).map((l) => l.replace(/\s+/g, " ").trim());
}

if (args.info) {
  out({
    ok: true,
    mode: "info",
    generator: generatorInfo(),
    model: path.basename(args.model),
    tokenizer: {
      model: tk.model ?? null,
      pre: tk.pre ?? null,
      vocab_size: vocabSize,
      bos_id: bos, eos_id: eos,
      eog_ids: eogIds(),
      add_bos_token_metadata: addBosMeta,
      add_eos_token_metadata: typeof tk.add_eos_token === "boolean" ? tk.add_eos_token : null,
      add_space_prefix_metadata: typeof tk.add_space_prefix === "boolean" ? tk.add_space_prefix : null,
      node_llama_cpp_shouldPrependBosToken: model.tokens.shouldPrependBosToken,
      byte_fallback_tokens: Array.isArray(tk.tokens) ? tk.tokens.filter((t) => /^<0x[0-9A-Fa-f]{2}>$/.test(t)).length : null,
      bos_rule: bosRule,
      add_bos: addBos,
    },
    general: md?.general ?? null,
  });
  process.exit(0);
}

const jsonOrRaw = (rawKey, jsonKey) => {
  if (args[jsonKey] != null) {
    const v = JSON.parse(args[jsonKey]);
    if (typeof v !== "string") throw new Error(`--${jsonKey} must be a JSON string`);
    return v;
  }
  return args[rawKey];
};

const tokText = jsonOrRaw("tokenize", "tokenize-json");
if (tokText != null) {
  // model.tokenize(text, true) == common_tokenize(vocab, text, add_special=false, parse_special=true)
  const ids = model.tokenize(tokText, true);
  out({ ok: true, mode: "tokenize", text: tokText, ids: Array.from(ids) });
  process.exit(0);
}

const prompt = jsonOrRaw("prompt", "prompt-json");
if (prompt == null) throw new Error("pass one of --prompt/--prompt-json, --tokenize/--tokenize-json, --info");

// Prompt: add_special=false, parse_special=true, then BOS in front if the model wants it.
const promptBody = Array.from(model.tokenize(prompt, true));
const promptTokens = addBos && bos != null ? [bos, ...promptBody] : promptBody;
if (promptTokens.length === 0) throw new Error("empty prompt and no BOS: nothing to evaluate");
if (promptTokens.length > batchSize) throw new Error(`prompt (${promptTokens.length} tokens) longer than batch size ${batchSize}`);
if (promptTokens.length + maxNewTokens > ctxSize) throw new Error(`prompt+max_new_tokens exceeds context ${ctxSize}`);

const context = await model.createContext({
  contextSize: ctxSize,
  batchSize,
  sequences: 1,
  threads,
  flashAttention,
  // KV cache types are left at their default (model.defaultContextKvCacheKeyType/ValueType = F16).
});
const sequence = context.getSequence();

const tokens = [];
const gaps = []; // ln(p_top1 / p_top2) at each generated step (how fragile the argmax is)
let finishReason = "length";
let stopToken = null;
if (maxNewTokens > 0) {
  // temperature 0 => node-llama-cpp builds a sampler chain with only llama_sampler_init_greedy (argmax);
  // no repeat penalty / token bias / grammar are passed. probabilities:true only reads the softmax
  // of the raw logits after selection; it does not influence the choice.
  const gen = sequence.evaluateWithMetadata(promptTokens, { probabilities: true }, { temperature: 0, yieldEogToken: true });
  for await (const { token, probabilities } of gen) {
    if (token === eos || model.isEogToken(token)) {
      finishReason = "stop";
      stopToken = token;
      break;
    }
    tokens.push(token);
    let p1 = -1, p2 = -1, t1 = -1;
    for (const [t, p] of probabilities) {
      if (p > p1) { p2 = p1; p1 = p; t1 = t; } else if (p > p2) { p2 = p; }
    }
    if (t1 !== token) throw new Error(`greedy token ${token} is not the argmax ${t1}`);
    gaps.push(p2 > 0 ? Number(Math.log(p1 / p2).toFixed(4)) : null);
    if (tokens.length >= maxNewTokens) break;
  }
}

// Text of the generated tokens as a continuation of the prompt: node-llama-cpp detokenizes
// [prompt..., generated...] with special=true and strips the detokenized prompt prefix. This equals
// concatenating llama_token_to_piece(special=true) pieces (the SPM leading-space strip of
// llama_detokenize only hits the first prompt token), and merges byte-fallback pieces into UTF-8.
const text = model.detokenize(tokens, true, promptTokens);

out({
  ok: true,
  mode: "generate",
  prompt,
  prompt_tokens: promptTokens,
  max_new_tokens: maxNewTokens,
  tokens,
  text,
  finish_reason: finishReason,
  stop_token: stopToken,
  top1_top2_logit_gap: gaps,
  settings: {
    context_size: context.contextSize,
    batch_size: context.batchSize,
    sequences: 1,
    threads,
    flash_attention_requested: flashAttention,
    flash_attention: context.flashAttention,
    kv_cache_key_type: ggmlTypeName(context.kvCacheKeyType ?? model.defaultContextKvCacheKeyType ?? "default"),
    kv_cache_value_type: ggmlTypeName(context.kvCacheValueType ?? model.defaultContextKvCacheValueType ?? "default"),
    llama_log: grepLog(/load_backend|model buffer size|cannot be used with preferred buffer|flash_attn|Flash Attention|K \(|n_ctx |n_batch|n_ubatch|n_seq_max|causal_attn|kv_unified/),
    weights_repacked: grepLog(/repack tensor/).length,
  },
});
process.exit(0);
