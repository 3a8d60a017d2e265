// The GGML tensor type table. Every type a GGUF may name has its block layout here, so sizes can be
// validated for any file; `gpu` says whether our kernels read it. A new weight type is one row here
// plus one kernel variant (see src/gpu/kernels/matmul.ts).
import { FridayError } from '../api/errors.js';

export interface GGMLTypeInfo {
  id: number;
  name: string;
  /** Elements per block (1 for plain types). */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
  /** Our WGSL kernels can read it directly from its compact form. */
  gpu: boolean;
}

const T = (id: number, name: string, blockSize: number, typeSize: number, gpu = false): GGMLTypeInfo => ({ id, name, blockSize, typeSize, gpu });

// ids and layouts from ggml.h / ggml.c type_traits (QK_K = 256).
export const GGML_TYPES: readonly GGMLTypeInfo[] = [
  T(0, 'F32', 1, 4, true),
  T(1, 'F16', 1, 2, true),
  T(2, 'Q4_0', 32, 18, true),
  T(3, 'Q4_1', 32, 20),
  T(6, 'Q5_0', 32, 22),
  T(7, 'Q5_1', 32, 24),
  T(8, 'Q8_0', 32, 34, true),
  T(9, 'Q8_1', 32, 36),
  T(10, 'Q2_K', 256, 84),
  T(11, 'Q3_K', 256, 110),
  T(12, 'Q4_K', 256, 144),
  T(13, 'Q5_K', 256, 176),
  T(14, 'Q6_K', 256, 210),
  T(15, 'Q8_K', 256, 292),
  T(16, 'IQ2_XXS', 256, 66),
  T(17, 'IQ2_XS', 256, 74),
  T(18, 'IQ3_XXS', 256, 98),
  T(19, 'IQ1_S', 256, 50),
  T(20, 'IQ4_NL', 32, 18),
  T(21, 'IQ3_S', 256, 110),
  T(22, 'IQ2_S', 256, 82),
  T(23, 'IQ4_XS', 256, 136),
  T(24, 'I8', 1, 1),
  T(25, 'I16', 1, 2),
  T(26, 'I32', 1, 4),
  T(27, 'I64', 1, 8),
  T(28, 'F64', 1, 8),
  T(29, 'IQ1_M', 256, 56),
  T(30, 'BF16', 1, 2, true),
  T(34, 'TQ1_0', 256, 54),
  T(35, 'TQ2_0', 256, 66),
  T(39, 'MXFP4', 32, 17),
];

const BY_ID = new Map(GGML_TYPES.map((t) => [t.id, t]));

export const GGMLType = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 } as const;

export function ggmlTypeInfo(id: number): GGMLTypeInfo | undefined {
  return BY_ID.get(id);
}

export function ggmlTypeName(id: number): string {
  return BY_ID.get(id)?.name ?? `unknown(${id})`;
}

export const GPU_TYPE_NAMES = GGML_TYPES.filter((t) => t.gpu).map((t) => t.name);

/** Byte size of a tensor with `nElements` elements of type `id`; throws if the row isn't whole blocks. */
export function tensorByteSize(id: number, nElements: number): number {
  const t = BY_ID.get(id);
  if (!t) throw new FridayError('GGUF_INVALID', `Unknown tensor type id ${id}.`);
  return (nElements / t.blockSize) * t.typeSize;
}

/** Fails early, naming what is supported, when a weight type has no GPU kernel. */
export function assertGpuType(id: number, tensorName: string): GGMLTypeInfo {
  const t = BY_ID.get(id);
  if (!t || !t.gpu) {
    throw new FridayError(
      'UNSUPPORTED_TENSOR_TYPE',
      `Tensor "${tensorName}" has type ${ggmlTypeName(id)}, which Friday can't run yet. Supported weight types: ${GPU_TYPE_NAMES.join(', ')}. Re-quantize the model to one of them (e.g. llama-quantize model.gguf out.gguf Q8_0).`,
      { tensor: tensorName, type: ggmlTypeName(id), supported: GPU_TYPE_NAMES },
    );
  }
  return t;
}
