import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ComponentFactory, Receiver } from '@outflow/core';
import { afterAll, afterEach, describe, it } from 'vitest';
import type { ConformanceCase } from './conformance.js';
import { createTestContext, createTestHost, type TestHost } from './context.js';

/** Register conformance cases as Vitest tests: `defineConformanceTests('my_receiver', receiverConformance({...}))`. */
export function defineConformanceTests(title: string, cases: readonly ConformanceCase[]): void {
  describe(title, () => {
    for (const c of cases) it(c.name, () => c.run());
  });
}

/**
 * A maker of fresh temporary directories (`<tmp>/<prefix>XXXXXX`), all removed
 * after the tests of the file (or `describe`) it is called in.
 */
export function tempDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
}

/** A receiver started by `receiverStarter`: its host, and its HTTP URL (with the path) or ''. */
export interface StartedReceiver<R> {
  host: TestHost;
  receiver: R;
  url: string;
}

/**
 * `start(config, setup?)` for receiver tests: validates `config` with
 * `factory`, creates the receiver with a test context named after the
 * factory's type, lets `setup` prepare the host (`host.full = true`), starts
 * it, and shuts it down after the test. `url` is the receiver's `address()`
 * URL followed by `path`, or '' when it serves no HTTP.
 */
export function receiverStarter<R extends Receiver, Config = unknown>(
  factory: ComponentFactory<unknown, R>,
  options: { path?: string } = {},
): (config: Config, setup?: (host: TestHost) => void) => Promise<StartedReceiver<R>> {
  const running: Receiver[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.shutdown()));
  });
  return async (config, setup) => {
    const ctx = createTestContext({ name: factory.type, type: factory.type, kind: 'receiver' });
    const receiver = factory.create(ctx, factory.validate(config));
    running.push(receiver);
    const host = createTestHost({ ctx });
    setup?.(host);
    await receiver.start(host);
    const address = (receiver as { address?: () => { url: string } | undefined }).address?.();
    return { host, receiver, url: address ? `${address.url}${options.path ?? ''}` : '' };
  };
}
