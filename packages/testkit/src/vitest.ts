import { describe, it } from 'vitest';
import type { ConformanceCase } from './conformance.js';

/** Register conformance cases as Vitest tests: `defineConformanceTests('my_receiver', receiverConformance({...}))`. */
export function defineConformanceTests(title: string, cases: readonly ConformanceCase[]): void {
  describe(title, () => {
    for (const c of cases) it(c.name, () => c.run());
  });
}
