import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Alert, hashKey, type OutflowEvent, recordField, shardOf, startShardedPipeline } from '../src/index.js';

// Workers run the build of @outflow/core (a worker cannot load TypeScript); `npm test` builds before testing.
const runtime = fileURLToPath(new URL('../dist/shard/worker.js', import.meta.url));
const module = new URL('./fixtures/shard-module.mjs', import.meta.url);
// Not the test runner's `--conditions source`: in the workers, @outflow/core must resolve to its build too.
const execArgv: string[] = [];

describe('shard keys', () => {
  it('hashKey and shardOf are deterministic and spread keys over the shards', () => {
    expect(hashKey('10.0.0.1')).toBe(hashKey('10.0.0.1'));
    expect(hashKey('10.0.0.1')).not.toBe(hashKey('10.0.0.2'));
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) {
      const s = shardOf(`10.0.${i >> 8}.${i & 255}`, 3);
      counts[s] = (counts[s] ?? 0) + 1;
    }
    for (const c of counts) expect(c).toBeGreaterThan(800);
    expect(shardOf('anything', 1)).toBe(0);
  });

  it('recordField picks one field without splitting the line', () => {
    const line = '2 123456789012 eni-1 10.0.0.7 203.0.113.9 443 49152 6 10 840 1 2 ACCEPT OK';
    expect(recordField(3)(line)).toBe('10.0.0.7');
    expect(recordField(0)(line)).toBe('2');
    expect(recordField(13)(line)).toBe('OK');
    expect(recordField(14)(line)).toBeUndefined();
    expect(recordField(1, ',')('a,b,c')).toBe('b');
    expect(() => recordField(-1)).toThrow(RangeError);
  });
});

describe('startShardedPipeline (worker threads)', () => {
  beforeAll(() => {
    if (!existsSync(runtime)) throw new Error(`${runtime} is missing: build @outflow/core first (npm test does)`);
  });

  it('routes records by key, decodes them in the workers, and merges every shard’s alerts', async () => {
    const sharded = await startShardedPipeline({ module, workers: 3, runtime, execArgv, recordKeys: { kv: recordField(0) } });
    const alerts: Alert[] = [];
    sharded.alerts$.subscribe((a) => alerts.push(a));
    const keys = Array.from({ length: 40 }, (_, i) => `w${i}`);
    const lines: string[] = [];
    for (let i = 0; i < 1200; i++) lines.push(`${keys[i % keys.length]} ${1_000 + i}`);
    let processed = 0;
    for (let i = 0; i < lines.length; i += 100) {
      await sharded.sendRecords('kv', lines.slice(i, i + 100), { location: 'mem', firstLineNumber: i + 1, onProcessed: () => processed++ });
    }
    await sharded.sendRecords('kv', ['not a valid line', 'w1 x'], { location: 'mem', firstLineNumber: 9_000 });
    await sharded.complete();
    const stats = await sharded.stats();
    const report = await sharded.shutdown();
    expect(report.clean).toBe(true);
    expect(processed).toBe(12);
    // every record became exactly one alert, with its own line number
    expect(alerts).toHaveLength(1200);
    expect(new Set(alerts.map((a) => a.dedupKey)).size).toBe(1200);
    expect(alerts.find((a) => a.dedupKey === 'mem:1200')?.attributes?.key).toBe('w39');
    // all of a key's records went to one shard: the shard its key hashes to
    const shardOfKey = new Map<string, Set<unknown>>();
    for (const a of alerts) {
      const key = a.attributes?.key as string;
      if (!shardOfKey.has(key)) shardOfKey.set(key, new Set());
      shardOfKey.get(key)?.add(a.attributes?.['shard.index']);
    }
    for (const [key, shards] of shardOfKey) expect([...shards]).toEqual([shardOf(key, 3)]);
    expect(new Set(alerts.map((a) => a.attributes?.['shard.index']))).toEqual(new Set([0, 1, 2]));
    expect(stats.map((s) => s.sent).reduce((x, y) => x + y, 0)).toBe(1202);
    // bad lines are dead-lettered in their worker, counted with their reason
    const errors = stats.flatMap((s) => s.telemetry.filter((t) => t.counter === 'errors' && t.reason === 'bad_line')).reduce((x, t) => x + t.value, 0);
    expect(errors).toBe(2);
  });

  it('routes decoded events by the event key (default: the workload)', async () => {
    const sharded = await startShardedPipeline({ module, workers: 2, runtime, execArgv });
    const alerts: Alert[] = [];
    sharded.alerts$.subscribe((a) => alerts.push(a));
    const events: OutflowEvent[] = Array.from({ length: 200 }, (_, i) => ({
      kind: 'network_flow',
      time: i,
      observedTime: 0,
      source: 'test',
      sourceId: `e${i}`,
      src: { address: '10.0.0.1' },
      dst: { address: '203.0.113.1' },
      direction: 'egress',
      workload: { namespace: 'ns', workloadName: `w${i % 10}` },
    }));
    let done = false;
    await sharded.send(events, { onProcessed: () => (done = true) });
    await sharded.complete();
    await sharded.shutdown();
    expect(done).toBe(true);
    expect(alerts).toHaveLength(200);
    for (const a of alerts) expect(a.attributes?.['shard.index']).toBe(shardOf(`/ns/Workload/${a.attributes?.key}`, 2));
  });

  it('a shard module that fails to build its pipeline: start rejects with its message', async () => {
    await expect(startShardedPipeline({ module, workers: 2, runtime, execArgv, data: { fail: true } })).rejects.toThrow(/shard setup failed on purpose/);
  });
});
