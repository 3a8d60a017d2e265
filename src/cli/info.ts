import { parseFlags, requireString } from './args.js';
import { openModelFile } from './model-file.js';
import { checkFits, modelRequirements } from '../model/inspect.js';
import { ggmlTypeName } from '../model/dtypes.js';
import { acquireDevice } from '../platform/gpu.js';
import { toFridayError } from '../api/errors.js';

const MiB = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;

export async function infoCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { model: { type: 'string' }, ctx: { type: 'string' }, json: { type: 'boolean' } });
  const path = requireString(flags, 'model');
  const { gguf, close } = await openModelFile(path);
  await close();
  const req = modelRequirements(gguf, { contextLength: flags.ctx ? Number(flags.ctx) : undefined });
  const c = req.config;
  const types = new Map<string, number>();
  for (const t of gguf.tensors) types.set(ggmlTypeName(t.type), (types.get(ggmlTypeName(t.type)) ?? 0) + 1);
  const lines = [
    `model        ${path}`,
    `name         ${c.name}`,
    `architecture ${c.architecture}  (GGUF v${gguf.version}, ${gguf.tensors.length} tensors)`,
    `dims         layers=${c.nLayers} dim=${c.dim} ffn=${c.ffnDim} heads=${c.nHeads} kv_heads=${c.nKvHeads} head_dim=${c.headDim} rope_dim=${c.ropeDim} rope_theta=${c.ropeTheta} eps=${c.normEps}`,
    `vocab        ${c.vocabSize}${c.tiedEmbeddings ? ' (output tied to token_embd)' : ''}, context ${c.contextLength}`,
    `tensor types ${[...types].map(([t, n]) => `${t} x${n}`).join(', ')}`,
    `bytes        ${Object.entries(req.bytesByType).map(([t, n]) => `${t} ${MiB(n)}`).join(', ')}; total weights ${MiB(req.weightBytes)}`,
    `largest      ${req.largestTensor.name} ${MiB(req.largestTensor.bytes)}`,
    `kv cache     ${MiB(req.kvBytes)} for ${req.contextLength} tokens (f16)`,
  ];
  try {
    const acq = await acquireDevice();
    const l = acq.adapter.limits;
    const v = checkFits(req, { maxBufferSize: l.maxBufferSize, maxStorageBufferBindingSize: l.maxStorageBufferBindingSize });
    lines.push(`adapter      ${acq.info.vendor} ${acq.info.architecture}${acq.info.is_software ? ' (software)' : ''}; maxBufferSize ${MiB(l.maxBufferSize)}, maxStorageBufferBindingSize ${MiB(l.maxStorageBufferBindingSize)}`);
    lines.push(v.fits ? 'fits         yes' : `fits         no, because ${v.reasons.join('; ')}`);
    acq.device.destroy();
  } catch (e) {
    lines.push(`adapter      none (${toFridayError(e).message})`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
