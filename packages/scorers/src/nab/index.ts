export * from './corpus.js';
export * from './detectors.js';
export * from './evaluate.js';
export * from './runner.js';
export * from './scoring.js';
