export * from './evaluate.js';
export * from './formats.js';
export * from './generate.js';
export { gaussian, normalSamples, Random, rng } from './random.js';
export * from './world.js';
export * from './write.js';
