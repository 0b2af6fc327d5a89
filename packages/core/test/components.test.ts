import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  ConfigError,
  configJsonSchema,
  defineComponent,
  encodeRaw,
  FileDeadLetter,
  MemoryDeadLetter,
  PermanentError,
  RetryableError,
  RetryExhaustedError,
  withRetry,
  z,
} from '../src/index.js';

const sample = defineComponent({
  type: 'sample_source',
  kind: 'receiver',
  stability: 'alpha',
  description: 'A sample',
  schema: z
    .object({
      http: z
        .object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(8443) })
        .strict()
        .prefault({}),
      paths: z.array(z.string()).default([]),
    })
    .strict(),
  check: (c) => (c.http.host !== '127.0.0.1' && c.paths.length === 0 ? [{ path: 'paths', message: 'required when listening beyond loopback' }] : []),
  create: () => ({ start() {}, shutdown: async () => {} }),
});

describe('defineComponent', () => {
  it('is a factory and a function returning a spec', () => {
    expect(sample.type).toBe('sample_source');
    expect(sample.kind).toBe('receiver');
    expect(sample.createDefaultConfig()).toEqual({ http: { host: '127.0.0.1', port: 8443 }, paths: [] });
    const spec = sample({ paths: ['/x'] }, { name: 'mine' });
    expect(spec.factory).toBe(sample);
    expect(spec.name).toBe('mine');
  });

  it('reports every error with its path under the given prefix', () => {
    try {
      sample.validate({ http: { port: 70000, extra: 1 }, paths: 'no' }, 'receivers[2]');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const paths = (err as ConfigError).issues.map((i) => i.path).sort();
      expect(paths).toEqual(['receivers[2].http', 'receivers[2].http.port', 'receivers[2].paths']);
    }
  });

  it('runs cross-field checks after the schema', () => {
    expect(() => sample.validate({ http: { host: '0.0.0.0' } }, 'r')).toThrow(/r\.paths: required when listening beyond loopback/);
  });

  it('publishes its config as JSON Schema for generated docs', () => {
    const schema = configJsonSchema(sample) as { properties: Record<string, unknown> };
    expect(Object.keys(schema.properties)).toEqual(['http', 'paths']);
  });

  it('rejects a type that is not snake_case', () => {
    expect(() =>
      defineComponent({ type: 'Bad-Type', kind: 'receiver', stability: 'alpha', description: '', schema: z.object({}), create: () => ({}) }),
    ).toThrow(/snake_case/);
  });
});

describe('dead letter', () => {
  it('keeps raw bytes as UTF-8 when they are text, base64 otherwise, and cuts huge records', () => {
    expect(encodeRaw('{"bad json')).toEqual({ raw: '{"bad json', rawEncoding: 'utf8' });
    expect(encodeRaw(new Uint8Array([0xff, 0x00, 0x10]))).toEqual({ raw: '/wAQ', rawEncoding: 'base64' });
    const cut = encodeRaw('x'.repeat(100), 10);
    expect(cut).toEqual({ raw: 'x'.repeat(10), rawEncoding: 'utf8', rawTruncated: true, rawBytes: 100 });
  });

  it('memory ring keeps the newest entries and counts overwrites', () => {
    const dl = new MemoryDeadLetter(2);
    for (const reason of ['a', 'b', 'c']) dl.write({ time: '', pipeline: 'p', component: 'c', stage: 'decode', reason });
    expect(dl.entries().map((e) => e.reason)).toEqual(['b', 'c']);
    expect(dl.overwritten).toBe(1);
    expect(dl.total).toBe(3);
  });

  it('file dead letter appends JSON lines', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'dl-')), 'sub', 'dead.jsonl');
    const dl = new FileDeadLetter({ path });
    dl.write({ time: 't', pipeline: 'p', component: 'c', stage: 'decode', reason: 'invalid_json', raw: '{', rawEncoding: 'utf8' });
    dl.write({ time: 't', pipeline: 'p', component: 'c', stage: 'process', reason: 'exception' });
    await dl.close();
    const lines = readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.reason)).toEqual(['invalid_json', 'exception']);
    expect(lines[0].raw).toBe('{');
  });
});

describe('retry', () => {
  it('backs off exponentially with jitter, capped, and honours Retry-After', () => {
    const r = () => 0.999999;
    expect(backoffDelay(1, { initialDelayMs: 100, random: r })).toBeCloseTo(100, 0);
    expect(backoffDelay(3, { initialDelayMs: 100, random: r })).toBeCloseTo(400, 0);
    expect(backoffDelay(20, { initialDelayMs: 100, maxDelayMs: 1000, random: r })).toBeCloseTo(1000, 0);
    expect(backoffDelay(1, { initialDelayMs: 100, random: () => 0 })).toBe(50);
    expect(backoffDelay(1, { initialDelayMs: 100, random: () => 0 }, 2000)).toBe(2000);
  });

  it('retries retryable errors, never permanent ones, and gives up after maxAttempts', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          if (calls < 3) throw new RetryableError('busy');
          return 'ok';
        },
        { initialDelayMs: 1 },
      ),
    ).resolves.toBe('ok');
    expect(calls).toBe(3);

    calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new PermanentError('no');
      }),
    ).rejects.toBeInstanceOf(PermanentError);
    expect(calls).toBe(1);

    calls = 0;
    const err = await withRetry(
      async () => {
        calls++;
        throw new RetryableError('down');
      },
      { maxAttempts: 4, initialDelayMs: 1 },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryExhaustedError);
    expect((err as RetryExhaustedError).attempts).toBe(4);
    expect(calls).toBe(4);
  });
});
