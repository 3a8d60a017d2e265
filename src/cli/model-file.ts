import { FileSource } from '../model/source/file.js';
import { readGGUF } from '../model/gguf/reader.js';
import type { GGUFFile } from '../model/gguf/types.js';

export async function openModelFile(path: string): Promise<{ source: FileSource; gguf: GGUFFile; close: () => Promise<void> }> {
  const source = await FileSource.open(path);
  try {
    const gguf = await readGGUF(source);
    return { source, gguf, close: () => source.close() };
  } catch (e) {
    await source.close();
    throw e;
  }
}
