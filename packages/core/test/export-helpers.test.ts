import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Alert,
  AlertOutbox,
  alertFromFinding,
  type ComponentContext,
  compileRoute,
  createPipeline,
  type DeadLetterInput,
  DeliveredKeys,
  deliverEach,
  deliveryKey,
  type Exporter,
  ExportRunner,
  httpRequest,
  httpStatusError,
  type OutflowEvent,
  PermanentError,
  parseRetryAfter,
  type Receiver,
  type ReceiverHost,
  RetryableError,
  resolveExportRunnerOptions,
  rule,
  type Severity,
  silentLogger,
  T1537,
  Telemetry,
  usableAlerts,
  withLabels,
} from '../src/index.js';

const T0 = Date.UTC(2024, 0, 1);
let n = 0;
function alert(partial: { severity?: Severity; detection?: string; tags?: string[]; status?: 'new' | 'update'; count?: number } = {}): Alert {
  n++;
  const a = alertFromFinding(
    {
      detection: { id: partial.detection ?? 'd1', title: 'D', attack: T1537 },
      severity: partial.severity ?? 'medium',
      time: T0 + n,
      evidence: [{ source: 'test', id: `e${n}` }],
      explanation: { summary: `alert ${n}` },
      dedupKey: `k${n}`,
      ...(partial.tags ? { tags: partial.tags } : {}),
    },
    T0,
  );
  return { ...a, ...(partial.status ? { status: partial.status } : {}), ...(partial.count ? { count: partial.count } : {}) };
}

function testContext(name = 'exp') {
  const telemetry = new Telemetry();
  const deadLetters: DeadLetterInput[] = [];
  const metrics = telemetry.forComponent(name);
  const ctx: ComponentContext = {
    name,
    type: name,
    kind: 'exporter',
    metrics,
    logger: silentLogger,
    deadLetter: (entry) => {
      metrics.add('errors', 1, entry.reason);
      deadLetters.push(entry);
    },
    clock: { now: () => Date.now() },
    scheduler: undefined as never,
    signal: new AbortController().signal,
  };
  return { ctx, telemetry, deadLetters };
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'outflow-export-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

class Collect implements Exporter {
  alerts: Alert[] = [];
  failWith: (() => Error) | undefined;
  async export(batch: readonly Alert[]) {
    if (this.failWith) throw this.failWith();
    this.alerts.push(...batch);
  }
  async shutdown() {}
}

describe('routing', () => {
  it('routes by severity, detection (exact and prefix), exclusion, tag and status', () => {
    const high = alert({ severity: 'high', detection: 'net.egress', tags: ['egress'] });
    const low = alert({ severity: 'low', detection: 'cloud.share' });
    const upd = alert({ severity: 'critical', detection: 'net.dns', status: 'update', count: 2 });
    const pick = (route: Parameters<typeof compileRoute>[0]) => [high, low, upd].filter(compileRoute(route)).map((a) => a.detection.id);
    expect(pick(undefined)).toEqual(['net.egress', 'cloud.share', 'net.dns']);
    expect(pick({})).toEqual(['net.egress', 'cloud.share', 'net.dns']);
    expect(pick({ minSeverity: 'high' })).toEqual(['net.egress', 'net.dns']);
    expect(pick({ detections: ['net.*'] })).toEqual(['net.egress', 'net.dns']);
    expect(pick({ detections: ['cloud.share'] })).toEqual(['cloud.share']);
    expect(pick({ excludeDetections: ['net.dns'] })).toEqual(['net.egress', 'cloud.share']);
    expect(pick({ tags: ['egress', 'other'] })).toEqual(['net.egress']);
    expect(pick({ updates: false })).toEqual(['net.egress', 'cloud.share']);
    expect(pick({ minSeverity: 'medium', detections: ['net.*'], updates: false })).toEqual(['net.egress']);
  });

  it('adds static labels without mutating the shared alert; the alert wins', () => {
    const a = { ...alert(), labels: { environment: 'prod' } };
    const b = withLabels(a, { environment: 'default', cluster: 'c1' });
    expect(b.labels).toEqual({ environment: 'prod', cluster: 'c1' });
    expect(a.labels).toEqual({ environment: 'prod' });
    expect(withLabels(a, {})).toBe(a);
  });

  it('dead-letters malformed alerts and keeps the rest', () => {
    const { ctx, deadLetters } = testContext();
    const good = alert();
    const bad = { ...alert(), severity: 'severe' } as unknown as Alert;
    expect(usableAlerts([good, bad, good], ctx)).toEqual([good, good]);
    expect(deadLetters.map((d) => [d.reason, d.message])).toEqual([['invalid_alert', 'severity "severe" is not a severity']]);
    const all = [good];
    expect(usableAlerts(all, ctx)).toBe(all);
  });
});

describe('HTTP helpers', () => {
  it('parses Retry-After as seconds or a date, and classifies statuses', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('0.5')).toBe(500);
    expect(parseRetryAfter(new Date(Date.UTC(2024, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2024, 0, 1))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
    const e429 = httpStatusError('hook', 429, { 'retry-after': '2' });
    expect(e429).toBeInstanceOf(RetryableError);
    expect((e429 as RetryableError).retryAfterMs).toBe(2000);
    expect(httpStatusError('hook', 503, {})).toBeInstanceOf(RetryableError);
    expect(httpStatusError('hook', 408, {})).toBeInstanceOf(RetryableError);
    expect(httpStatusError('hook', 400, {}, 'bad body')).toBeInstanceOf(PermanentError);
    expect(httpStatusError('hook', 401, {}).message).toBe('hook answered HTTP 401');
    expect(httpStatusError('hook', 501, {})).toBeInstanceOf(PermanentError);
  });

  it('httpRequest: real loopback server, timeouts and refused connections are retryable', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/slow') return setTimeout(() => res.end('late'), 500);
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => res.writeHead(201, { 'x-echo': req.headers['x-test'] as string }).end(`got ${body}`));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const res = await httpRequest(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'hi', headers: { 'x-test': 'v' } });
      expect([res.status, res.headers['x-echo'], res.body]).toEqual([201, 'v', 'got hi']);
      await expect(httpRequest(`http://127.0.0.1:${port}/slow`, { timeoutMs: 50 })).rejects.toThrow(/timed out after 50 ms/);
      await expect(httpRequest(`http://127.0.0.1:${port}/slow`, { signal: AbortSignal.timeout(30) })).rejects.toBeInstanceOf(RetryableError);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    await expect(httpRequest(`http://127.0.0.1:${port}/`)).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('deliverEach', () => {
  it('skips delivered keys on retry, dead-letters permanent failures, carries the longest Retry-After', async () => {
    const { ctx, deadLetters } = testContext();
    const done = new DeliveredKeys();
    const batch = [alert(), alert(), alert(), alert()];
    const sent: string[] = [];
    let attempt = 0;
    const send = async (a: Alert) => {
      sent.push(a.id);
      if (a === batch[1]) throw new PermanentError('400 bad');
      if (attempt === 0 && a === batch[2]) throw new RetryableError('429', { retryAfterMs: 1500 });
      if (attempt === 0 && a === batch[3]) throw new RetryableError('500', { retryAfterMs: 100 });
    };
    const first = deliverEach(batch, send, { done, ctx, signal: new AbortController().signal, concurrency: 2 });
    await expect(first).rejects.toMatchObject({ name: 'RetryableError', retryAfterMs: 1500, message: expect.stringMatching(/^2 of 4 alerts not delivered/) });
    attempt = 1;
    sent.length = 0;
    const second = await deliverEach(batch, send, { done, ctx, signal: new AbortController().signal });
    expect(second).toEqual({ delivered: 2, skipped: 2, rejected: 0 });
    expect(sent.sort()).toEqual([batch[2]?.id, batch[3]?.id].sort());
    expect(deadLetters.map((d) => d.reason)).toEqual(['permanent_error']);
    expect(deadLetters[0]?.alert?.id).toBe(batch[1]?.id);
  });

  it('keeps the delivered set bounded', () => {
    const done = new DeliveredKeys({ maxKeys: 100 });
    for (let i = 0; i < 1000; i++) done.add(`k${i}`);
    expect(done.size).toBeLessThanOrEqual(100);
    expect(done.has('k999')).toBe(true);
    expect(done.has('k0')).toBe(false);
  });
});

describe('AlertOutbox', () => {
  it('keeps unacknowledged alerts across reopen, and compacts on open', async () => {
    const path = join(tempDir(), 'sub', 'x.outbox.jsonl');
    const a = [alert(), alert(), alert()];
    const box = new AlertOutbox({ path });
    expect(box.open()).toEqual([]);
    expect(box.add(a)).toBe(3);
    await box.commit();
    expect(box.durable).toBe(3);
    box.ack([a[1] as Alert]);
    await box.close();
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(4);
    const again = new AlertOutbox({ path });
    expect(again.open().map((x) => x.id)).toEqual([a[0]?.id, a[2]?.id]);
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(2);
    await again.close();
  });

  it('reports a torn last line and corrupt lines, and recovers the rest', async () => {
    const path = join(tempDir(), 'x.outbox.jsonl');
    const a = alert();
    writeFileSync(path, `{"add":${JSON.stringify(a)}}\nnot json\n{"add":{"id":"trunc`);
    const corrupt: { torn: boolean; line: number }[] = [];
    const box = new AlertOutbox({ path });
    expect(box.open((r) => corrupt.push({ torn: r.torn, line: r.line })).map((x) => x.id)).toEqual([a.id]);
    expect(corrupt).toEqual([
      { torn: false, line: 2 },
      { torn: true, line: 3 },
    ]);
    await box.close();
  });

  it('refuses past maxAlerts, and update deliveries are separate entries', async () => {
    const path = join(tempDir(), 'x.outbox.jsonl');
    const box = new AlertOutbox({ path, maxAlerts: 2, fsync: false });
    box.open();
    const a = alert();
    const upd = { ...a, status: 'update' as const, count: 2 };
    expect(deliveryKey(upd)).not.toBe(deliveryKey(a));
    expect(box.add([a, upd, alert()])).toBe(2);
    expect(box.isFull).toBe(true);
    await box.close();
  });

  it('rewrites itself once acknowledged records dominate', async () => {
    const path = join(tempDir(), 'x.outbox.jsonl');
    const box = new AlertOutbox({ path, compactBytes: 20_000, fsync: false });
    box.open();
    for (let i = 0; i < 100; i++) {
      const batch = [alert(), alert()];
      box.add(batch);
      box.ack(batch);
      await box.commit();
    }
    const keep = alert();
    box.add([keep]);
    await box.close();
    expect(readFileSync(path, 'utf8').length).toBeLessThan(25_000);
    const again = new AlertOutbox({ path });
    expect(again.open().map((a) => a.id)).toEqual([keep.id]);
    await again.close();
  });
});

describe('ExportRunner', () => {
  it('applies route and labels, and counts what it filters', async () => {
    const { ctx, telemetry } = testContext();
    const sink = new Collect();
    const runner = new ExportRunner(sink, ctx, { route: { minSeverity: 'high' }, labels: { cluster: 'c1' } });
    runner.start();
    runner.enqueue(alert({ severity: 'low' }));
    runner.enqueue(alert({ severity: 'critical' }));
    await runner.drain(new AbortController().signal);
    expect(sink.alerts.map((a) => [a.severity, a.labels])).toEqual([['critical', { cluster: 'c1' }]]);
    expect(telemetry.total('dropped', { reason: 'filtered' })).toBe(1);
  });

  it('write-ahead outbox: alerts undelivered after retries are re-sent on the next start', async () => {
    const path = join(tempDir(), 'hook.outbox.jsonl');
    const failing = new Collect();
    failing.failWith = () => new RetryableError('503');
    const first = testContext();
    const runner = new ExportRunner(failing, first.ctx, { outbox: { path }, retry: { maxAttempts: 2, initialDelayMs: 1 }, batchSize: 2 });
    runner.start();
    const alerts = [alert(), alert(), alert()];
    for (const a of alerts) runner.enqueue(a);
    await runner.drain(new AbortController().signal);
    expect(first.telemetry.total('errors', { reason: 'retries_exhausted' })).toBe(3);
    expect(first.telemetry.total('dropped')).toBe(0);
    expect(first.deadLetters).toEqual([]);

    const working = new Collect();
    const second = testContext();
    const again = new ExportRunner(working, second.ctx, { outbox: { path } });
    again.start();
    expect(again.recoveredCount).toBe(3);
    const fresh = alert();
    again.enqueue(fresh);
    await again.drain(new AbortController().signal);
    expect(working.alerts.map((a) => a.id)).toEqual([...alerts, fresh].map((a) => a.id));

    const third = new ExportRunner(new Collect(), testContext().ctx, { outbox: { path } });
    third.start();
    expect(third.recoveredCount).toBe(0);
    await third.drain(new AbortController().signal);
  });

  it('on-failure outbox: only failed alerts are written; permanent errors are dead-lettered, not kept', async () => {
    const path = join(tempDir(), 'hook.outbox.jsonl');
    const exporter = new Collect();
    const { ctx, deadLetters, telemetry } = testContext();
    const runner = new ExportRunner(exporter, ctx, { outbox: { path, mode: 'on_failure' }, retry: { maxAttempts: 1 }, batchSize: 1 });
    runner.start();
    const ok = alert();
    runner.enqueue(ok);
    await new Promise((r) => setTimeout(r, 20));
    expect(readFileSync(path, 'utf8')).toBe('');
    exporter.failWith = () => new RetryableError('down');
    const down = alert();
    runner.enqueue(down);
    await new Promise((r) => setTimeout(r, 20));
    exporter.failWith = () => new PermanentError('400');
    const rejected = alert();
    runner.enqueue(rejected);
    await runner.drain(new AbortController().signal);
    expect(deadLetters.map((d) => [d.reason, d.alert?.id])).toEqual([['permanent_error', rejected.id]]);
    expect(telemetry.total('errors', { reason: 'retries_exhausted' })).toBe(1);
    const box = new AlertOutbox({ path });
    expect(box.open().map((a) => a.id)).toEqual([down.id]);
    await box.close();
  });

  it('a torn outbox record is dead-lettered with its raw bytes at start', async () => {
    const path = join(tempDir(), 'x.outbox.jsonl');
    const a = alert();
    writeFileSync(path, `{"add":${JSON.stringify(a)}}\n`);
    appendFileSync(path, '{"add":{"id":"half');
    const sink = new Collect();
    const { ctx, deadLetters } = testContext();
    const runner = new ExportRunner(sink, ctx, { outbox: { path } });
    runner.start();
    await runner.drain(new AbortController().signal);
    expect(sink.alerts.map((x) => x.id)).toEqual([a.id]);
    expect(deadLetters.map((d) => [d.reason, d.raw, d.location])).toEqual([['outbox_torn_record', '{"add":{"id":"half', `${path}:2`]]);
  });

  it('merges pipeline defaults, per-exporter entries and the exporter delivery settings', () => {
    const options = resolveExportRunnerOptions(
      'webhook/2',
      {
        batchSize: 100,
        retry: { maxAttempts: 3, initialDelayMs: 10 },
        outbox: { directory: '/var/lib/outflow/', mode: 'on_failure' },
        exporters: { 'webhook/2': { capacity: 50, labels: { a: '1' }, retry: { maxAttempts: 9 } } },
      },
      { route: { minSeverity: 'high' }, labels: { b: '2' }, queue: { batchSize: 10 }, retry: { maxDelayMs: 5 } },
    );
    expect(options).toEqual({
      batchSize: 10,
      capacity: 50,
      retry: { maxAttempts: 9, initialDelayMs: 10, maxDelayMs: 5 },
      route: { minSeverity: 'high' },
      labels: { a: '1', b: '2' },
      outbox: { mode: 'on_failure', path: '/var/lib/outflow/webhook_2.outbox.jsonl' },
    });
    expect(resolveExportRunnerOptions('x', { outbox: { directory: '/d' }, exporters: { x: { outbox: false } } }, undefined)).toEqual({});
  });
});

describe('pipeline export wiring', () => {
  it('routes per exporter by config, adds labels, and re-sends the outbox on the next start', async () => {
    const dir = tempDir();
    const T = T0;
    const events: OutflowEvent[] = Array.from({ length: 4 }, (_, i) => ({
      kind: 'network_flow',
      time: T + i,
      observedTime: T,
      source: 'test',
      sourceId: `f${i}`,
      src: { address: '10.0.0.1' },
      dst: { address: '203.0.113.9' },
      direction: 'egress',
      bytes: i,
    }));
    const receiver = (list: OutflowEvent[]): Receiver => ({
      async start(host: ReceiverHost) {
        await host.emit(list);
        host.complete();
      },
      async shutdown() {},
    });
    const detection = rule({
      id: 'r',
      title: 'R',
      severity: 'low',
      kinds: ['network_flow'],
      match: (e) => ({ severity: (e.bytes ?? 0) >= 2 ? 'high' : 'low', dedupKey: String(e.bytes), explanation: { summary: String(e.bytes) } }),
    });
    const all = new Collect();
    const highOnly = Object.assign(new Collect(), { delivery: { route: { minSeverity: 'high' as const } } });
    const broken = new Collect();
    broken.failWith = () => new RetryableError('down');
    const p1 = createPipeline({
      receivers: [receiver(events)],
      detections: [detection],
      exporters: [all, highOnly, broken],
      labels: { environment: 'test' },
      export: { retry: { maxAttempts: 1 }, outbox: { directory: dir }, exporters: { exporter: { labels: { via: 'all' } }, 'exporter/2': { outbox: false } } },
    });
    await p1.start();
    await p1.done;
    await p1.shutdown();
    expect(all.alerts.map((a) => a.labels)).toEqual(Array(4).fill({ environment: 'test', via: 'all' }));
    expect(highOnly.alerts.map((a) => a.explanation.summary)).toEqual(['2', '3']);
    expect(broken.alerts).toEqual([]);

    const recovered = new Collect();
    const p2 = createPipeline({ receivers: [receiver([])], exporters: [new Collect(), new Collect(), recovered], export: { outbox: { directory: dir } } });
    await p2.start();
    await p2.done;
    await p2.shutdown();
    expect(recovered.alerts.map((a) => a.explanation.summary)).toEqual(['0', '1', '2', '3']);
  });
});
