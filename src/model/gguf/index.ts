export * from './types.js';
export { readGGUF } from './reader.js';
export * from './metadata.js';
