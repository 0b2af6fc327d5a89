import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type Alert, deliveryKey, MemoryDeadLetter, PermanentError, RetryableError, silentLogger } from '@outflow/core';
import { alert, createTestContext, exporterConformance, MemoryExporter } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acquireConnection,
  type ConnectionLease,
  type LocalNatsServer,
  NatsAlertsExporter,
  NatsAlertWorker,
  natsAlerts,
  natsConnectionSchema,
} from '../src/index.js';
import { natsBin, server, waitFor } from './support/nats.js';

describe.skipIf(!natsBin)('alerts stream and exporter workers', () => {
  let nats: LocalNatsServer;
  let lease: ConnectionLease;
  beforeAll(async () => {
    nats = await server(1);
    lease = await acquireConnection(natsConnectionSchema.parse({ servers: [nats.url] }));
  });
  afterAll(async () => {
    await lease?.release();
    await nats?.stop();
  });

  async function streamAlerts(stream: string): Promise<Alert[]> {
    const jsm = await jetstreamManager(lease.nc);
    const info = await jsm.streams.info(stream);
    const out: Alert[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++)
      out.push((await jsm.streams.getMessage(stream, { seq }))?.json<Alert>() as Alert);
    return out;
  }

  let n = 0;
  defineConformanceTests(
    'nats_alerts exporter conformance',
    exporterConformance({
      factory: natsAlerts,
      setup: async () => {
        const i = ++n;
        const stream = { name: `ALERTS_CONF_${i}`, prefix: `aconf${i}` };
        return { config: { connection: { servers: [nats.url] }, stream }, received: async () => (await streamAlerts(stream.name)).map((a) => a.id) };
      },
    }),
  );

  it('a replayed delivery is stored once (Nats-Msg-Id = delivery key); an update is a new delivery', async () => {
    const stream = { name: 'ALERTS_DEDUP', prefix: 'adedup' };
    const config = natsAlerts.validate({ connection: { servers: [nats.url] }, stream });
    const first = new NatsAlertsExporter(createTestContext({ name: 'nats_alerts', kind: 'exporter' }), config);
    const replay = new NatsAlertsExporter(createTestContext({ name: 'nats_alerts', kind: 'exporter' }), config);
    const a = alert({ severity: 'high' });
    await first.export([a], new AbortController().signal);
    await replay.export([a], new AbortController().signal); // another process replaying after a restart
    expect(replay.duplicates).toBe(1);
    const update: Alert = { ...a, status: 'update', count: 3 };
    await replay.export([update], new AbortController().signal);
    const stored = await streamAlerts('ALERTS_DEDUP');
    expect(stored.map(deliveryKey)).toEqual([a.id, `${a.id}:3`]);
    await first.shutdown();
    await replay.shutdown();
  });

  it('a worker hands each delivery to every exporter once, retries failures, dead-letters bad messages, and acks after delivery', async () => {
    const stream = { name: 'ALERTS_WORK', prefix: 'awork' };
    const exporter = new NatsAlertsExporter(
      createTestContext({ name: 'nats_alerts', kind: 'exporter' }),
      natsAlerts.validate({ connection: { servers: [nats.url] }, stream }),
    );
    const alerts = Array.from({ length: 12 }, (_, i) => alert({ severity: i % 2 ? 'high' : 'medium' }));
    await exporter.export(alerts, new AbortController().signal);
    const js = jetstream(lease.nc);
    // a repeat beyond the duplicate window (no message id) and a message that is not an alert
    await js.publish('awork.alerts.high', Buffer.from(JSON.stringify(alerts[1])));
    await js.publish('awork.alerts.high', Buffer.from('{"not":"an alert"'));
    const a = new MemoryExporter();
    const flaky = new MemoryExporter();
    flaky.failures = [new RetryableError('503'), new RetryableError('503')];
    const deadLetter = new MemoryDeadLetter();
    const worker = new NatsAlertWorker({
      connection: { servers: [nats.url] },
      stream,
      exporters: [a, flaky],
      retry: { initialDelayMs: 10, maxDelayMs: 20 },
      deadLetter,
      logger: silentLogger,
    });
    await worker.start();
    await waitFor(() => worker.delivered === 12 && worker.duplicates === 1, 10_000, 'delivery');
    expect(a.alerts.map((x) => x.id).sort()).toEqual(alerts.map((x) => x.id).sort());
    expect(flaky.alerts.map((x) => x.id).sort()).toEqual(alerts.map((x) => x.id).sort());
    expect(deadLetter.entries().map((e) => e.reason)).toEqual(['invalid_alert']);
    expect(deadLetter.entries()[0]?.raw).toBe('{"not":"an alert"');
    const jsm = await jetstreamManager(lease.nc);

    await waitFor(async () => (await jsm.consumers.info('ALERTS_WORK', 'outflow-exporters')).num_ack_pending === 0, 5_000, 'acks');
    const info = await jsm.consumers.info('ALERTS_WORK', 'outflow-exporters');
    expect(info.num_pending).toBe(0);
    await worker.shutdown();
    await exporter.shutdown();
  });

  it('an exporter that rejects for good gets its alerts dead-lettered and the messages acknowledged; one that keeps failing gets them again later', async () => {
    const stream = { name: 'ALERTS_FAIL', prefix: 'afail' };
    const exporter = new NatsAlertsExporter(
      createTestContext({ name: 'nats_alerts', kind: 'exporter' }),
      natsAlerts.validate({ connection: { servers: [nats.url] }, stream }),
    );
    const x = alert({ severity: 'high' });
    await exporter.export([x], new AbortController().signal);
    const rejecting = new MemoryExporter();
    rejecting.failures = [new PermanentError('400 bad request')];
    const down = new MemoryExporter();
    down.failures = Array.from({ length: 6 }, () => new RetryableError('connection refused'));
    const deadLetter = new MemoryDeadLetter();
    const worker = new NatsAlertWorker({
      connection: { servers: [nats.url] },
      stream,
      exporters: [rejecting, down],
      retry: { maxAttempts: 3, initialDelayMs: 5, maxDelayMs: 10 },
      redeliverAfterMs: 100,
      deadLetter,
      logger: silentLogger,
    });
    await worker.start();
    // attempts 1-3 fail, the message is redelivered, attempts 4-6 fail, then the 7th succeeds
    await waitFor(() => down.alerts.length === 1, 10_000, 'eventual delivery');
    await waitFor(() => worker.delivered === 1, 5_000, 'ack');
    expect(rejecting.alerts).toEqual([]);
    expect(deadLetter.entries().map((e) => [e.reason, e.alert?.id])).toEqual([['permanent_error', x.id]]);
    expect(worker.telemetry.total('errors', { reason: 'retries_exhausted' })).toBe(2);
    await worker.shutdown();
    await exporter.shutdown();
  });
});
