// GGUF file structure (v2/v3, little-endian). Dims are in ggml order: dims[0] is the contiguous one.
export const enum GGUFValueType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

/** Numeric arrays come back as typed arrays; 64-bit integers as number when safe, else bigint. */
export type GGUFValue =
  | number | bigint | boolean | string
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array
  | BigUint64Array | BigInt64Array
  | boolean[] | string[] | GGUFValue[];

export interface GGUFTensorInfo {
  name: string;
  /** ggml order: dims[0] is the row length (contiguous), dims[1] the number of rows, ... */
  dims: number[];
  /** GGML type id, see src/model/dtypes.ts */
  type: number;
  /** Absolute byte offset of the tensor data in the file. */
  offset: number;
  byteSize: number;
  nElements: number;
}

export interface GGUFFile {
  version: number;
  metadata: Map<string, GGUFValue>;
  tensors: GGUFTensorInfo[];
  alignment: number;
  /** Absolute offset where tensor data starts (after header and padding). */
  dataOffset: number;
  /** Total file size in bytes. */
  fileSize: number;
}
