#!/usr/bin/env node
// Regenerates test/goldens/<model>.llamacpp.json: greedy llama.cpp (node-llama-cpp) outputs and
// tokenizations for the fixture models. Every generation / tokenization runs in its own child
// process (scripts/goldens/llamacpp-generate.mjs) with a timeout.
//
// node-llama-cpp is NOT a project dependency; install it outside the repo:
//   mkdir -p /tmp/llamacpp && cd /tmp/llamacpp && npm init -y && npm install node-llama-cpp
// then, from the repo root:
//   node scripts/goldens/make-goldens.mjs --llamacpp-dir /tmp/llamacpp --models-dir /work/shared/fixtures/models
//
// Options: --llamacpp-dir DIR (or env LLAMACPP_DIR), --models-dir DIR, --references-dir DIR,
//          --out-dir DIR (default test/goldens), --timeout-ms N (per child, default 60000),
//          --models a.gguf,b.gguf (subset; default: all three fixtures)

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import crypto from "node:crypto";
import path from "node:path";
import fs from "node:fs";

const scriptPath = fileURLToPath(import.meta.url);
const scriptDir = path.dirname(scriptPath);
const repoRoot = path.resolve(scriptDir, "..", "..");
const generatorScript = path.join(scriptDir, "llamacpp-generate.mjs");

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--") || i + 1 >= argv.length) throw new Error(`bad argument: ${a}`);
    out[a.slice(2)] = argv[++i];
  }
  return out;
}
const args = parseArgs(process.argv.slice(2));
const llamacppDir = path.resolve(args["llamacpp-dir"] ?? process.env.LLAMACPP_DIR ?? "");
if (!args["llamacpp-dir"] && !process.env.LLAMACPP_DIR) throw new Error("pass --llamacpp-dir DIR (or env LLAMACPP_DIR)");
const modelsDir = path.resolve(args["models-dir"] ?? "/work/shared/fixtures/models");
const referencesDir = path.resolve(args["references-dir"] ?? path.join(modelsDir, "..", "references"));
const outDir = path.resolve(repoRoot, args["out-dir"] ?? "test/goldens");
const timeoutMs = Number(args["timeout-ms"] ?? 60000);

const ALL_MODELS = ["stories260K.gguf", "TinyStories-656K-Q8_0.gguf", "TinyStories-656K.f16.gguf"];
const models = args.models ? args.models.split(",") : ALL_MODELS;

const shq = (s) => (/^[A-Za-z0-9_\/.,:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
const command = ["node", path.relative(repoRoot, scriptPath),
  "--llamacpp-dir", llamacppDir, "--models-dir", modelsDir,
  ...(args["references-dir"] ? ["--references-dir", referencesDir] : []),
  ...(args["out-dir"] ? ["--out-dir", args["out-dir"]] : []),
  ...(args["timeout-ms"] ? ["--timeout-ms", String(timeoutMs)] : []),
  ...(args.models ? ["--models", args.models] : []),
].map(shq).join(" ");

// ---------------------------------------------------------------------------------------------
// Cases (same list for every model).
const LONG_OPENING =
  "Once upon a time, in a small village near a big green forest, there lived a kind old man named Sam. " +
  "Every morning he walked to the river with his little dog, Max, to catch fish for breakfast. " +
  "One sunny day, Max started to bark at a shiny box hidden under a tall tree. " +
  "Sam opened the box slowly and saw something very strange inside. " +
  "He looked at Max and smiled, because he knew that this was going to be a special day for both of them.";

const PROMPTS = [
  "",                                                   // BOS only
  "Once upon a time",
  "Hello",
  "Tom",                                                // single word
  LONG_OPENING,                                         // ~80 words
  "Lily said, \"Look at the big red ball!\"",            // quotes + punctuation
  "The cat sat on the mat.\nThe dog ran to the park.\n", // newlines
  "She had 3 apples and 12 cookies.",                   // digits
  "The girl went to the café.",                         // non-ASCII (byte fallback / unknown)
  "  Once upon a time",                                 // leading spaces
  "Once upon a time ",                                  // trailing space
  "\"Can I play?\" asked Tom.",                         // dialogue
  "The sun was hot! Ben ran to the lake; he wanted to swim, but the water was cold.",
  "One day, a little bird named Blue",
];
const MAX_NEW_TOKENS = 64;
const EXTRA_CASES = {
  "stories260K.gguf": [{ prompt: "", max_new_tokens: 200 }],
};

const TOKENIZE_EXTRA = [
  "", " ", "  leading", "trailing ", "\n\n", "a  b", "Hello world", " Hello world", "Hello, world!",
  "12345", "3.14 and 1,000", "<s>", "</s>", "<|start_story|>", "<|end_story|>", "it's Tom's ball",
  "\ttab", "café", "naïve 日本 🙂", "🙂",
];
const TOKENIZE_TEXTS = [...new Set([...PROMPTS, ...TOKENIZE_EXTRA])];

// ---------------------------------------------------------------------------------------------
function runChild(childArgs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [generatorScript, "--llamacpp-dir", llamacppDir, ...childArgs], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "", stderr = "", timedOut = false;
    child.stdout.on("data", (d) => { stdout += d; });
    child.stderr.on("data", (d) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill("SIGKILL"); }, timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split("\n").reverse().find((l) => l.startsWith("{"));
      let json = null;
      try { json = line ? JSON.parse(line) : null; } catch { json = null; }
      resolve({ code, signal, timedOut, json, stderr });
    });
  });
}

function failure(r) {
  const tail = r.stderr.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("[node-llama-cpp]")).slice(-3).join(" | ");
  if (r.timedOut) return `timeout after ${timeoutMs} ms`;
  const why = /_Map_base::at/.test(r.stderr)
    ? " (llama.cpp SPM tokenizer: a character is not in the vocab and the vocab has no <0xNN> byte-fallback tokens, so byte_to_token() throws and the process aborts)"
    : "";
  return `child exited code=${r.code} signal=${r.signal}: ${tail}${why}`;
}

function firstDivergence(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? null : n;
}

async function generate(modelPath, prompt, maxNewTokens, fa) {
  return runChild(["--model", modelPath, "--prompt-json", JSON.stringify(prompt),
    "--max-new-tokens", String(maxNewTokens), "--flash-attention", fa]);
}

function sha256(file) {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

// JSON with 1 array of numbers per line (readable diffs).
function formatJson(obj) {
  return JSON.stringify(obj, null, 2).replace(/\[\s+((?:-?[\d.e+-]+|null)(?:,\s+(?:-?[\d.e+-]+|null))*)\s+\]/g,
    (_, body) => `[${body.split(/,\s+/).join(", ")}]`) + "\n";
}

function readJson(p) { try { return JSON.parse(fs.readFileSync(p, "utf8")); } catch { return null; } }

// ---------------------------------------------------------------------------------------------
fs.mkdirSync(outDir, { recursive: true });
const summary = [];

for (const modelFile of models) {
  const modelPath = path.join(modelsDir, modelFile);
  const basename = path.basename(modelPath);
  process.stderr.write(`== ${basename}\n`);

  const info = await runChild(["--model", modelPath, "--info"]);
  if (!info.json?.ok) throw new Error(`--info failed for ${basename}: ${failure(info)}`);

  const caseSpecs = [
    ...PROMPTS.map((prompt) => ({ prompt, max_new_tokens: MAX_NEW_TOKENS })),
    ...(EXTRA_CASES[basename] ?? []),
  ];
  const cases = [];
  let settings = null;
  for (const spec of caseSpecs) {
    const r = await generate(modelPath, spec.prompt, spec.max_new_tokens, "true");
    if (!r.json?.ok) {
      cases.push({ prompt: spec.prompt, prompt_tokens: null, max_new_tokens: spec.max_new_tokens, tokens: null, text: null,
        finish_reason: "error", error: failure(r) });
      process.stderr.write(`  ${JSON.stringify(spec.prompt).slice(0, 40)}: ERROR ${failure(r)}\n`);
      continue;
    }
    const g = r.json;
    settings ??= g.settings;
    // Same case with flash attention off: tells how sensitive the greedy path is to attention numerics.
    const off = await generate(modelPath, spec.prompt, spec.max_new_tokens, "false");
    const offDiv = off.json?.ok ? firstDivergence(g.tokens, off.json.tokens) : undefined;
    cases.push({
      prompt: g.prompt,
      prompt_tokens: g.prompt_tokens,
      max_new_tokens: g.max_new_tokens,
      tokens: g.tokens,
      text: g.text,
      finish_reason: g.finish_reason,
      top1_top2_logit_gap: g.top1_top2_logit_gap,
      flash_attention_off_first_divergence: off.json?.ok ? offDiv : `error: ${failure(off)}`,
    });
    process.stderr.write(`  ${JSON.stringify(spec.prompt).slice(0, 40)}: ${g.tokens.length} tokens, ${g.finish_reason}, FA-off divergence ${offDiv}\n`);
  }

  const tokenize = [];
  for (const text of TOKENIZE_TEXTS) {
    const r = await runChild(["--model", modelPath, "--tokenize-json", JSON.stringify(text)]);
    if (r.json?.ok) tokenize.push({ text, ids: r.json.ids });
    else tokenize.push({ text, ids: null, error: failure(r) });
  }

  // Cross-checks against third-party references in the fixtures dir (informational).
  const reference_checks = [];
  const q8ref = readJson(path.join(referencesDir, "TinyStories-656K-Q8_0-llamacpp-greedy.json"));
  if (q8ref && /^TinyStories-656K/i.test(basename)) {
    for (const rc of q8ref.cases) {
      for (const fa of ["true", "false"]) {
        const r = await generate(modelPath, rc.prompt, rc.max_new_tokens, fa);
        reference_checks.push({
          reference: "TinyStories-656K-Q8_0-llamacpp-greedy.json",
          reference_model: "TinyStories-656K-Q8_0.gguf",
          prompt: rc.prompt, max_new_tokens: rc.max_new_tokens, flash_attention: fa === "true",
          match: r.json?.ok ? r.json.text === rc.expected_text : false,
          text: r.json?.ok ? r.json.text : null,
          ...(r.json?.ok ? {} : { error: failure(r) }),
        });
      }
    }
  }
  const l2cref = readJson(path.join(referencesDir, "stories260K-llama2c-reference.json"));
  if (l2cref && basename === "stories260K.gguf") {
    const rc = l2cref.generation_cases.find((c) => c.temperature === 0 && c.prompt === "" && c.steps === 200);
    const mine = cases.find((c) => c.prompt === "" && c.max_new_tokens === 200);
    if (rc && mine?.text != null) {
      // llama2.c: steps=200 counts positions incl. BOS (so 199 new tokens) and drops the leading space after BOS.
      const ours = mine.text.replace(/^ /, "");
      reference_checks.push({
        reference: "stories260K-llama2c-reference.json",
        reference_source: rc.source,
        reference_settings: rc.run_c_args,
        prompt: "", compared: "golden case (prompt \"\", 200 tokens) text minus its leading space must start with the llama2.c text",
        match: ours.startsWith(rc.expected_text),
      });
    }
  }

  const golden = {
    command,
    command_cwd: "repository root",
    generator: {
      ...info.json.generator,
      model_sha256: sha256(modelPath),
      sampling: "greedy: temperature 0 -> sampler chain is only llama_sampler_init_greedy (argmax); no repeat penalty, token bias, grammar or top-k/p",
      context_size: settings?.context_size ?? 512,
      batch_size: settings?.batch_size ?? 512,
      sequences: 1,
      threads: settings?.threads ?? 1,
      cpu_backend: (settings?.llama_log ?? []).map((l) => /load_backend: loaded CPU backend from .*\/(libggml-cpu-[^/]+\.so)/.exec(l)?.[1]).find(Boolean) ?? null,
      flash_attention: settings?.flash_attention ?? true,
      kv_cache_type: { k: settings?.kv_cache_key_type ?? "F16", v: settings?.kv_cache_value_type ?? "F16" },
      weights_repacked_tensors: settings?.weights_repacked ?? null,
      llama_log: settings?.llama_log ?? [],
      prompt_tokenization: "common_tokenize(prompt, add_special=false, parse_special=true) then BOS prepended by the script iff add_bos (see tokenizer.bos_rule)",
      stop: "generation stops at the first EOG token (eos/eog ids below; the stop token is not included in tokens, finish_reason \"stop\") or after max_new_tokens (finish_reason \"length\")",
      detokenize: "text = node-llama-cpp model.detokenize(tokens, specialTokens=true, lastTokens=prompt_tokens): detokenize(prompt+tokens) minus detokenize(prompt); equivalent to concatenating llama_token_to_piece(special=true) of the generated tokens",
      tokenize_section: "ids = common_tokenize(text, add_special=false, parse_special=true) (no BOS)",
      top1_top2_logit_gap: "per generated token: ln(p_top1/p_top2) of the full softmax over raw logits at that step; small values = near-ties that other numerics may flip",
      flash_attention_off_first_divergence: "index of the first generated token that differs when the same case is re-run with flash attention off (null = identical)",
      tokenizer: info.json.tokenizer,
    },
    model: basename,
    cases,
    tokenize,
    reference_checks,
  };
  const outFile = path.join(outDir, `${basename.replace(/\.gguf$/, "")}.llamacpp.json`);
  fs.writeFileSync(outFile, formatJson(golden));
  process.stderr.write(`wrote ${path.relative(repoRoot, outFile)}\n`);
  summary.push({ model: basename, out: path.relative(repoRoot, outFile),
    errors: cases.filter((c) => c.error).length, tokenize_errors: tokenize.filter((t) => t.error).length,
    reference_checks: reference_checks.map((c) => `${c.reference}:${JSON.stringify(c.prompt)}${c.flash_attention === undefined ? "" : c.flash_attention ? " FA" : " noFA"}=${c.match}`) });
}
process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
