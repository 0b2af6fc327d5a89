import { deepStrictEqual } from 'node:assert';
import { TestScheduler } from 'rxjs/testing';

/**
 * A TestScheduler that asserts with node:assert (works under any test
 * runner). Use `run` for marble tests of the Promise-free core operators:
 *
 * ```ts
 * marbles(({ cold, expectObservable }) => {
 *   expectObservable(cold('a-b|').pipe(op)).toBe('x-y|', { x: 1, y: 2 });
 * });
 * ```
 */
export function createTestScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => deepStrictEqual(actual, expected));
}

/** Run a marble test body with a fresh TestScheduler. */
export function marbles<T>(
  body: Parameters<TestScheduler['run']>[0] extends (helpers: infer H) => unknown ? (helpers: H, scheduler: TestScheduler) => T : never,
): T {
  const scheduler = createTestScheduler();
  return scheduler.run((helpers) => body(helpers, scheduler));
}
