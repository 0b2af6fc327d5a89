import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../../vitest.shared.js';

// The lab tests create network namespaces and start softflowd: one test file at a time, so that a run's sweep
// of leftovers never meets another file's lab halfway, and the 2 cores are not shared between two labs.
export default mergeConfig(shared, defineConfig({ test: { fileParallelism: false } }));
