import { deepStrictEqual, ok } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Alert, type Baseline, type ComponentFactory, ConfigError, EVENT_KINDS, type Exporter, type Receiver, type Scorer } from '@outflow/core';
import { alert as buildAlert } from './builders.js';
import { createTestContext, createTestHost, type TestHost } from './context.js';

/** One conformance check. Throws on failure. Run them with any test runner, or `defineConformanceTests` from `@outflow/testkit/vitest`. */
export interface ConformanceCase {
  name: string;
  run(): Promise<void>;
}

/** Scratch resources for one conformance case. */
export interface ConformanceEnv {
  /** A fresh directory, removed after the case. */
  readonly dir: string;
  /** A free TCP port on 127.0.0.1 (also free for UDP in practice). */
  freePort(): Promise<number>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function withEnv<T>(body: (env: ConformanceEnv) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'outflow-conformance-'));
  try {
    return await body({ dir, freePort });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function checkFactoryShape(factory: ComponentFactory, kind: string): void {
  ok(/^[a-z][a-z0-9_]*$/.test(factory.type), `type "${factory.type}" must be snake_case`);
  deepStrictEqual(factory.kind, kind, `factory kind must be "${kind}"`);
  ok(['development', 'alpha', 'beta', 'stable'].includes(factory.stability), 'stability must be development, alpha, beta or stable');
  ok(typeof factory.description === 'string' && factory.description.length > 0, 'description must be set');
}

function checkInvalidConfig(factory: ComponentFactory, invalid: unknown): void {
  let thrown: unknown;
  try {
    factory.validate(invalid, 'component');
  } catch (err) {
    thrown = err;
  }
  ok(thrown instanceof ConfigError, `validate(${JSON.stringify(invalid)}) must throw ConfigError, got ${String(thrown)}`);
  ok(thrown.issues.length > 0, 'ConfigError must list its issues');
  for (const issue of thrown.issues) {
    ok(issue.path.startsWith('component'), `issue path "${issue.path}" must start with the given prefix`);
    ok(issue.message.length > 0, 'issue message must not be empty');
  }
}

export interface ReceiverConformanceOptions {
  factory: ComponentFactory<unknown, Receiver>;
  /** Config for the receiver under test (use `env.dir`, `env.freePort()`). */
  config(env: ConformanceEnv): unknown | Promise<unknown>;
  /** Deliver one well-formed input to a running receiver: write a file, POST a body, send a datagram. */
  sendValid(env: ConformanceEnv, config: unknown): Promise<void>;
  /** Deliver one malformed input. */
  sendInvalid(env: ConformanceEnv, config: unknown): Promise<void>;
  /** A configuration validate() must reject. Default `{ "not_a_real_option": true }`. */
  invalidConfig?: unknown;
  /** Set when the factory's default config is not usable on its own (it requires a path or URL). */
  defaultConfigRequiresInput?: boolean;
  /** Time to wait for events and dead letters. Default 5000 ms. */
  timeoutMs?: number;
}

/** The conformance suite every receiver passes. */
export function receiverConformance(options: ReceiverConformanceOptions): ConformanceCase[] {
  const { factory } = options;
  const timeout = options.timeoutMs ?? 5_000;
  const running = async <T>(body: (host: TestHost, receiver: Receiver, env: ConformanceEnv, config: unknown) => Promise<T>) =>
    withEnv(async (env) => {
      const config = factory.validate(await options.config(env));
      const ctx = createTestContext({ name: factory.type, type: factory.type, kind: 'receiver' });
      const receiver = factory.create(ctx, config);
      const host = createTestHost({ ctx });
      try {
        await receiver.start(host);
        return await body(host, receiver, env, config);
      } finally {
        await receiver.shutdown();
      }
    });
  return [
    {
      name: `${factory.type}: factory has a snake_case type, a kind, a stability and a description`,
      run: async () => checkFactoryShape(factory, 'receiver'),
    },
    {
      name: `${factory.type}: default config ${options.defaultConfigRequiresInput ? 'is rejected with paths' : 'validates'}`,
      run: async () => {
        if (options.defaultConfigRequiresInput) {
          ok(expectThrows(() => factory.createDefaultConfig()) instanceof ConfigError, 'createDefaultConfig must throw ConfigError when input is required');
          return;
        }
        const defaults = factory.createDefaultConfig();
        deepStrictEqual(factory.validate(defaults), defaults, 'validate(createDefaultConfig()) must return the defaults unchanged');
      },
    },
    {
      name: `${factory.type}: invalid config throws ConfigError with paths`,
      run: async () => checkInvalidConfig(factory, options.invalidConfig ?? { not_a_real_option: true }),
    },
    {
      name: `${factory.type}: start, receive one event, shut down`,
      run: () =>
        running(async (host, _r, env, config) => {
          await options.sendValid(env, config);
          const events = await host.waitForEvents(1, timeout);
          for (const e of events) {
            ok(EVENT_KINDS.includes(e.kind), `event kind ${e.kind} is not in the model`);
            ok(Number.isFinite(e.time), 'event time must be a finite epoch ms');
            ok(Number.isFinite(e.observedTime), 'observedTime must be a finite epoch ms');
            ok(typeof e.source === 'string' && e.source.length > 0, 'event source must be set');
          }
        }),
    },
    {
      name: `${factory.type}: shutdown before start resolves, twice`,
      run: () =>
        withEnv(async (env) => {
          const config = factory.validate(await options.config(env));
          const receiver = factory.create(createTestContext({ name: factory.type }), config);
          await receiver.shutdown();
          await receiver.shutdown();
        }),
    },
    {
      name: `${factory.type}: shutdown after start is idempotent`,
      run: () =>
        running(async (_host, receiver) => {
          await receiver.shutdown();
          await receiver.shutdown();
        }),
    },
    {
      name: `${factory.type}: bad input is counted and dead-lettered with its raw bytes, not thrown; good input still flows`,
      run: () =>
        running(async (host, _r, env, config) => {
          await options.sendInvalid(env, config);
          const dead = await host.waitForDeadLetters(1, timeout);
          for (const entry of dead) {
            ok(entry.reason.length > 0, 'dead letter must have a reason');
            ok(entry.raw !== undefined, 'dead letter must keep the raw bytes');
          }
          ok(host.telemetry.total('errors') >= 1, 'the bad input must be counted as an error');
          await options.sendValid(env, config);
          await host.waitForEvents(1, timeout);
        }),
    },
  ];
}

function expectThrows(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

export interface ExporterConformanceOptions {
  factory: ComponentFactory<unknown, Exporter>;
  /** Start what the exporter talks to (a loopback server, a directory) and return its config and a way to read what arrived. */
  setup(env: ConformanceEnv): Promise<{
    config: unknown;
    /** Ids of the alerts the destination received so far. */
    received(): Promise<string[]>;
    close?(): Promise<void>;
  }>;
  invalidConfig?: unknown;
  defaultConfigRequiresInput?: boolean;
}

/** The conformance suite every exporter passes. */
export function exporterConformance(options: ExporterConformanceOptions): ConformanceCase[] {
  const { factory } = options;
  const withExporter = (body: (exporter: Exporter, received: () => Promise<string[]>) => Promise<void>) =>
    withEnv(async (env) => {
      const target = await options.setup(env);
      const exporter = factory.create(createTestContext({ name: factory.type, kind: 'exporter' }), factory.validate(target.config));
      try {
        await exporter.start?.();
        await body(exporter, target.received);
      } finally {
        await exporter.shutdown();
        await target.close?.();
      }
    });
  return [
    { name: `${factory.type}: factory shape`, run: async () => checkFactoryShape(factory, 'exporter') },
    {
      name: `${factory.type}: default config ${options.defaultConfigRequiresInput ? 'is rejected with paths' : 'validates'}`,
      run: async () => {
        if (options.defaultConfigRequiresInput) {
          ok(expectThrows(() => factory.createDefaultConfig()) instanceof ConfigError, 'createDefaultConfig must throw ConfigError when input is required');
          return;
        }
        const defaults = factory.createDefaultConfig();
        deepStrictEqual(factory.validate(defaults), defaults);
      },
    },
    {
      name: `${factory.type}: invalid config throws ConfigError with paths`,
      run: async () => checkInvalidConfig(factory, options.invalidConfig ?? { not_a_real_option: true }),
    },
    {
      name: `${factory.type}: exports one alert, then shuts down`,
      run: () =>
        withExporter(async (exporter, received) => {
          const a = buildAlert({ severity: 'high' });
          await exporter.export([a], new AbortController().signal);
          await exporter.forceFlush?.();
          const ids = await waitFor(received, (ids) => ids.includes(a.id));
          ok(ids.includes(a.id), `alert ${a.id} must arrive`);
        }),
    },
    {
      name: `${factory.type}: shutdown before start resolves, twice`,
      run: () =>
        withEnv(async (env) => {
          const target = await options.setup(env);
          try {
            const exporter = factory.create(createTestContext({ name: factory.type, kind: 'exporter' }), factory.validate(target.config));
            await exporter.shutdown();
            await exporter.shutdown();
          } finally {
            await target.close?.();
          }
        }),
    },
    {
      name: `${factory.type}: a malformed alert is rejected or delivered, never thrown synchronously; the next alert still arrives`,
      run: () =>
        withExporter(async (exporter, received) => {
          const bad = { ...buildAlert(), explanation: undefined, evidence: undefined, detection: undefined } as unknown as Alert;
          let result: Promise<void> | undefined;
          try {
            result = exporter.export([bad], new AbortController().signal);
          } catch (err) {
            throw new Error(`export threw synchronously: ${String(err)}`);
          }
          await result.catch((err: unknown) => ok(err instanceof Error, 'rejections must be Errors'));
          const good = buildAlert();
          await exporter.export([good], new AbortController().signal);
          await exporter.forceFlush?.();
          const ids = await waitFor(received, (ids) => ids.includes(good.id));
          ok(ids.includes(good.id), 'the alert after a malformed one must arrive');
        }),
    },
  ];
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() - started > timeoutMs) return value;
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface BaselineConformanceOptions<S, F> {
  baseline: Baseline<S, F>;
  /** The i-th well-formed feature of a normal stream. */
  sample(i: number): F;
  /** Event time of the i-th sample. Default one minute apart from 2024-01-01. */
  time?(i: number): number;
  /** Malformed features (NaN, negative counts, ...): learning them must not throw nor corrupt the state. */
  invalid?: readonly F[];
  /** Bound on one key's state after 20 000 updates, in bytes of JSON (and of `sizeOf` when defined). */
  maxBytes: number;
}

const defaultTime = (i: number) => Date.UTC(2024, 0, 1) + i * 60_000;

/** The conformance suite every baseline passes. */
export function baselineConformance<S, F>(options: BaselineConformanceOptions<S, F>): ConformanceCase[] {
  const { baseline, sample } = options;
  const time = options.time ?? defaultTime;
  const learn = (state: S, from: number, to: number) => {
    let s = state;
    for (let i = from; i < to; i++) s = baseline.update(s, sample(i), time(i));
    return s;
  };
  return [
    {
      name: `${baseline.type}: counts what it learns`,
      run: async () => {
        const s = learn(baseline.init(time(0)), 0, 1000);
        deepStrictEqual(baseline.samples(s), 1000);
        ok(baseline.since(s) <= time(0) + 1, 'since() must be the time of the first sample');
      },
    },
    {
      name: `${baseline.type}: state survives a JSON snapshot and restore`,
      run: async () => {
        const a = learn(baseline.init(time(0)), 0, 500);
        const restored = JSON.parse(JSON.stringify(a)) as S;
        const continued = learn(a, 500, 1000);
        const fromRestored = learn(restored, 500, 1000);
        deepStrictEqual(JSON.parse(JSON.stringify(fromRestored)), JSON.parse(JSON.stringify(continued)));
      },
    },
    {
      name: `${baseline.type}: memory per key stays bounded`,
      run: async () => {
        const s = learn(baseline.init(time(0)), 0, 20_000);
        const bytes = Buffer.byteLength(JSON.stringify(s));
        ok(bytes <= options.maxBytes, `state is ${bytes} bytes of JSON after 20 000 updates (bound ${options.maxBytes})`);
        if (baseline.sizeOf) ok(baseline.sizeOf(s) <= options.maxBytes, `sizeOf reports ${baseline.sizeOf(s)} bytes (bound ${options.maxBytes})`);
      },
    },
    {
      name: `${baseline.type}: bad input is ignored, not thrown`,
      run: async () => {
        let s = learn(baseline.init(time(0)), 0, 100);
        const before = baseline.samples(s);
        for (const bad of options.invalid ?? []) s = baseline.update(s, bad, time(100));
        deepStrictEqual(baseline.samples(s), before, 'invalid features must not be learned');
        JSON.stringify(s);
      },
    },
  ];
}

export interface ScorerConformanceOptions<S, F> {
  scorer: Scorer<S, F>;
  baseline: Baseline<S, F>;
  sample(i: number): F;
  time?(i: number): number;
  /** A feature far outside the normal stream. */
  anomalous: F;
  invalid?: readonly F[];
}

/** The conformance suite every scorer passes. */
export function scorerConformance<S, F>(options: ScorerConformanceOptions<S, F>): ConformanceCase[] {
  const { scorer, baseline, sample } = options;
  const time = options.time ?? defaultTime;
  const trained = () => {
    let s = baseline.init(time(0));
    for (let i = 0; i < 1000; i++) s = baseline.update(s, sample(i), time(i));
    return s;
  };
  const checkScore = (score: ReturnType<Scorer<S, F>['score']>) => {
    ok(score.probability >= 0 && score.probability <= 1, `probability ${score.probability} must be in [0, 1]`);
    ok(!Number.isNaN(score.value), 'value must not be NaN');
    ok(score.explanation.scorer.length > 0, 'explanation.scorer must be set');
    ok(typeof score.explanation.observed === 'string' && score.explanation.observed.length > 0, 'explanation.observed must be set');
    ok(typeof score.explanation.expected === 'string' && score.explanation.expected.length > 0, 'explanation.expected must be set');
  };
  return [
    {
      name: `${scorer.type}: scores an empty baseline without throwing`,
      run: async () => checkScore(scorer.score(baseline.init(time(0)), sample(0), time(0))),
    },
    {
      name: `${scorer.type}: an anomaly scores above normal, with an explanation`,
      run: async () => {
        const s = trained();
        const normal = scorer.score(s, sample(1000), time(1000));
        const anomaly = scorer.score(s, options.anomalous, time(1000));
        checkScore(normal);
        checkScore(anomaly);
        ok(anomaly.value > normal.value, `anomaly ${anomaly.value} must score above normal ${normal.value}`);
        ok(anomaly.probability >= normal.probability, 'anomaly probability must not be below normal');
        deepStrictEqual(anomaly.explanation.samples, baseline.samples(s), 'explanation.samples must be the baseline sample count');
        ok(anomaly.explanation.baselineAgeMs >= 0, 'baselineAgeMs must be >= 0');
      },
    },
    {
      name: `${scorer.type}: bad input is scored without throwing`,
      run: async () => {
        const s = trained();
        for (const bad of options.invalid ?? []) checkScore(scorer.score(s, bad, time(1000)));
      },
    },
  ];
}
