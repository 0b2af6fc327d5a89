// Shared Vitest settings for every workspace package. Tests resolve sibling
// packages through their "source" export condition, so `vitest run` needs no
// prior build of the packages a test imports.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['source', 'node', 'development|production'] },
  ssr: { resolve: { conditions: ['source', 'node', 'development|production'] } },
  test: {
    include: ['test/**/*.test.ts'],
    // Generous: CI machines are small and shared; a test that hangs still fails.
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
