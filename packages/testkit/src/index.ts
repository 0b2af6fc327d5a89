export * from './builders.js';
export * from './conformance.js';
export * from './context.js';
export * from './golden.js';
export * from './http.js';
export * from './marbles.js';
export * from './memory.js';
export * from './scenario/index.js';
