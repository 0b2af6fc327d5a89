import type { Suite } from '../harness.js';

/** Every suite, loaded on demand. Add one line per suite file. */
export const SUITES: Record<string, () => Promise<Suite>> = {};
