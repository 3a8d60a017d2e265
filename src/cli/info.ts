import { parseFlags, requireString, optNumber, isInt } from './args.js';
import { inspectModel } from '../model/inspect.js';
import { ggmlTypeName } from '../model/dtypes.js';

const MiB = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;

/** Header-only: what the model is, what it needs, and whether it fits this adapter. */
export async function infoCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { model: { type: 'string' }, ctx: { type: 'string' }, json: { type: 'boolean' } });
  const path = requireString(flags, 'model');
  const insp = await inspectModel(path, { contextLength: optNumber(flags, 'ctx', isInt(8), 'an integer >= 8') });
  const { gguf, requirements: req } = insp;
  const c = req.config;
  const types = new Map<string, number>();
  for (const t of gguf.tensors) types.set(ggmlTypeName(t.type), (types.get(ggmlTypeName(t.type)) ?? 0) + 1);
  const a = insp.adapter;
  const lines = [
    `model        ${path}`,
    `name         ${c.name}`,
    `architecture ${c.architecture}  (GGUF v${gguf.version}, ${gguf.tensors.length} tensors, ${MiB(insp.fileBytes)})`,
    `dims         layers=${c.nLayers} dim=${c.dim} ffn=${c.ffnDim} heads=${c.nHeads} kv_heads=${c.nKvHeads} head_dim=${c.headDim} rope_dim=${c.ropeDim} rope_theta=${c.ropeTheta} eps=${c.normEps}`,
    `vocab        ${c.vocabSize}${c.tiedEmbeddings ? ' (output tied to token_embd)' : ''}, context ${c.contextLength}`,
    `tensor types ${[...types].map(([t, n]) => `${t} x${n}`).join(', ')}`,
    `bytes        ${Object.entries(req.bytesByType).map(([t, n]) => `${t} ${MiB(n)}`).join(', ')}; total weights ${MiB(req.weightBytes)}`,
    `largest      ${req.largestTensor.name} ${MiB(req.largestTensor.bytes)}`,
    `kv cache     ${MiB(req.kvBytes)} for ${req.contextLength} tokens (f16)`,
    `adapter      ${a ? `${a.vendor} ${a.architecture}${a.is_software ? ' (software)' : ''}` : 'none'}${insp.limits ? `; maxBufferSize ${MiB(insp.limits.maxBufferSize)}, maxStorageBufferBindingSize ${MiB(insp.limits.maxStorageBufferBindingSize)}` : ''}`,
    `fits         ${insp.fits ? 'yes' : 'no'}: ${insp.summary}`,
  ];
  process.stdout.write(flags.json ? JSON.stringify({ fits: insp.fits, summary: insp.summary, reasons: insp.reasons, notes: insp.notes, adapter: a ?? null, config: c, bytes_by_type: req.bytesByType, weight_bytes: req.weightBytes, kv_bytes: req.kvBytes }) + '\n' : lines.join('\n') + '\n');
  return 0;
}
