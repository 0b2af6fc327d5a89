import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Alert, createPipeline, deliveryKey, ExportRunner, JsonSchemaValidator, rule } from '@outflow/core';
import { alert as buildAlert, createTestContext, exporterConformance, flowEvent, freePort, MemoryReceiver } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import { afterEach, describe, expect, it } from 'vitest';
import { slackEscape, type WebhookDelivery, WebhookExporter, webhookExporter } from '../src/index.js';
import { WebhookServer } from './support/server.js';

const require = createRequire(import.meta.url);
const alertSchema = new JsonSchemaValidator(JSON.parse(readFileSync(require.resolve('@outflow/core/schema/alert.schema.json'), 'utf8')));

const servers: WebhookServer[] = [];
const dirs: string[] = [];
async function server(): Promise<WebhookServer> {
  const s = new WebhookServer();
  await s.listen();
  servers.push(s);
  return s;
}
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const signal = () => new AbortController().signal;
function exporterFor(config: Record<string, unknown>) {
  const ctx = createTestContext({ kind: 'exporter', name: 'webhook' });
  return { ctx, exporter: new WebhookExporter(ctx, webhookExporter.validate(config)) };
}

describe('webhook exporter: payloads and headers', () => {
  it('POSTs the JSON envelope with idempotency key, bearer token, custom headers and a verifiable HMAC', async () => {
    const s = await server();
    process.env.TEST_WEBHOOK_SECRET = 's3cret';
    const { exporter } = exporterFor({ url: s.url, bearerToken: 'tok', headers: { 'X-Team': 'sec' }, hmac: { secretEnv: 'TEST_WEBHOOK_SECRET' } });
    const a = buildAlert({ severity: 'high', labels: { environment: 'prod' } });
    const upd = { ...a, status: 'update' as const, count: 4 };
    await exporter.export([a, upd], signal());
    await exporter.shutdown();
    expect(s.requests).toHaveLength(2);
    const byKey = new Map(s.requests.map((r) => [r.key, r]));
    expect([...byKey.keys()].sort()).toEqual([a.id, `${a.id}:4`].sort());
    for (const r of s.requests) {
      expect(r.method).toBe('POST');
      expect(r.path).toBe('/hook');
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers.authorization).toBe('Bearer tok');
      expect(r.headers['x-team']).toBe('sec');
      expect(r.headers['x-outflow-signature']).toBe(`sha256=${createHmac('sha256', 's3cret').update(r.body).digest('hex')}`);
      const body = r.json as WebhookDelivery;
      expect(body.idempotencyKey).toBe(r.key);
      expect(body.idempotencyKey).toBe(deliveryKey(body.alert));
      expect(alertSchema.validate(body.alert)).toEqual([]);
    }
    expect((byKey.get(a.id) as { json: WebhookDelivery }).json.alert).toEqual(JSON.parse(JSON.stringify(a)));
  });

  it('sends a Slack-compatible text message, escaping mrkdwn', async () => {
    const s = await server();
    const { exporter } = exporterFor({ url: s.url, format: 'slack' });
    const a = buildAlert({
      severity: 'critical',
      detection: { id: 'snap', title: 'Snapshot <shared> & more', attack: { technique: 'T1537', tactic: 'TA0010' } },
      explanation: { summary: 'shared with <!channel> 999988887777', observed: 'createVolumePermission', expected: 'none', reasons: ['outside the org'] },
      workload: { cluster: 'c', namespace: 'ns', workloadKind: 'Deployment', workloadName: 'ledger' },
      response: { investigate: ['check CloudTrail'] },
    });
    await exporter.export([a], signal());
    await exporter.shutdown();
    const body = s.requests[0]?.json as { text: string };
    expect(Object.keys(body)).toEqual(['text']);
    expect(body.text).toContain('*[CRITICAL] Snapshot &lt;shared&gt; &amp; more*');
    expect(body.text).toContain('>shared with &lt;!channel&gt; 999988887777');
    expect(body.text).toContain('*Workload:* `c/ns/Deployment/ledger`');
    expect(body.text).toContain('• outside the org');
    expect(body.text).toContain(`alert ${a.id}`);
    expect(body.text).not.toContain('<!channel>');
    expect(s.requests[0]?.key).toBe(a.id);
    expect(slackEscape('a\u0007<b>')).toBe('a&lt;b&gt;');
  });

  it('sends an OCSF Detection Finding with the delivery key as metadata.uid', async () => {
    const s = await server();
    const { exporter } = exporterFor({ url: s.url, format: 'ocsf' });
    const a = buildAlert({ severity: 'high' });
    await exporter.export([a], signal());
    await exporter.shutdown();
    expect(s.requests[0]?.key).toBe(a.id);
    expect(s.requests[0]?.json).toMatchObject({
      class_uid: 2004,
      type_uid: 200401,
      severity_id: 4,
      finding_info: { uid: a.id },
      metadata: { uid: a.id, version: '1.3.0' },
    });
  });

  it('batch mode: one POST per batch, a batch key, and a key per delivery', async () => {
    const s = await server();
    const { exporter } = exporterFor({ url: s.url, batch: true });
    const alerts = [buildAlert(), buildAlert(), buildAlert()];
    await exporter.export(alerts, signal());
    await exporter.export(alerts, signal()); // a retry of a delivered batch is not sent again
    await exporter.shutdown();
    expect(s.requests).toHaveLength(1);
    const body = s.requests[0]?.json as { idempotencyKey: string; deliveries: WebhookDelivery[] };
    expect(body.idempotencyKey).toBe(s.requests[0]?.key);
    expect(body.idempotencyKey).toMatch(/^batch-[0-9a-f]{32}$/);
    expect(body.deliveries.map((d) => d.idempotencyKey)).toEqual(alerts.map((a) => a.id));
  });

  it('validates its config: every problem with its path, secrets from the environment', () => {
    delete process.env.MISSING_SECRET;
    expect(() =>
      webhookExporter.validate(
        { url: 'ftp://x', format: 'slack', batch: true, concurrency: 0, hmac: { secretEnv: 'MISSING_SECRET', secret: 'x' }, extra: 1 },
        'exporters[2]',
      ),
    ).toThrow(/exporters\[2\]\.url: must be an http[\s\S]*exporters\[2\]\.concurrency[\s\S]*exporters\[2\]: unknown key "extra"/);
    expect(() => webhookExporter.validate({ url: 'http://127.0.0.1:1/x', format: 'slack', batch: true, hmac: { secretEnv: 'MISSING_SECRET' } }, 'e')).toThrow(
      /e\.hmac\.secretEnv: environment variable MISSING_SECRET is not set[\s\S]*e\.batch/,
    );
  });
});

describe('webhook exporter: failures and recovery', () => {
  it('retries 500, 429 (honouring Retry-After), slow responses and refused connections; every alert arrives once by key', async () => {
    // Reserve a port, then start the server on it only after the first attempts were refused.
    const port = await freePort();
    const s = new WebhookServer();
    servers.push(s);
    const url = `http://127.0.0.1:${port}/hook`;
    const ctx = createTestContext({ kind: 'exporter', name: 'webhook' });
    const exporter = new WebhookExporter(ctx, webhookExporter.validate({ url, timeoutMs: 150, concurrency: 3 }));
    const retryAfterSeen: number[] = [];
    const runner = new ExportRunner(exporter, ctx, { batchSize: 8, retry: { maxAttempts: 30, initialDelayMs: 20, maxDelayMs: 150 } });
    ctx.logger.warn = (_m, fields) => {
      if (fields && typeof fields.delayMs === 'number') retryAfterSeen.push(fields.delayMs);
    };
    runner.start();
    const alerts = Array.from({ length: 40 }, (_, i) => buildAlert({ explanation: { summary: `a${i}` } }));
    for (const a of alerts) runner.enqueue(a);
    // The first attempts hit a closed port (ECONNREFUSED); then the server comes up misbehaving.
    for (let waited = 0; ctx.telemetry.total('errors', { reason: 'export_retry' }) === 0 && waited < 20_000; waited += 10)
      await new Promise((r) => setTimeout(r, 10));
    const refusedBefore = ctx.telemetry.total('errors', { reason: 'export_retry' });
    s.behaviour = (n) => {
      if (n <= 6) return { status: 500 };
      if (n <= 9) return { status: 429, headers: { 'retry-after': '1' } };
      if (n <= 12) return { status: 200, delayMs: 400 }; // past the client's timeout: processed, but the client retries
      if (n === 13) return { destroy: true };
      return { status: 200 };
    };
    await s.listen(port);
    await runner.drain(AbortSignal.timeout(20_000));
    await exporter.shutdown();
    await new Promise((r) => setTimeout(r, 450)); // let the slow answers land

    expect(refusedBefore).toBeGreaterThan(0);
    expect(s.requests.filter((r) => r.n <= 6).length).toBe(6);
    expect(new Set(s.processed.keys())).toEqual(new Set(alerts.map((a) => a.id)));
    expect(s.processed.size).toBe(40);
    // Duplicates only come from the slow requests the client gave up on, and they carry the same key.
    expect(s.duplicates).toBeLessThanOrEqual(3);
    const attemptsByKey = new Map<string, number>();
    for (const r of s.requests) attemptsByKey.set(r.key as string, (attemptsByKey.get(r.key as string) ?? 0) + 1);
    expect([...attemptsByKey.keys()].every((k) => alerts.some((a) => a.id === k))).toBe(true);
    // A 429 with Retry-After: 1 made the runner wait at least a second before that retry.
    expect(retryAfterSeen.some((d) => d >= 1000)).toBe(true);
    expect(runner.delivered).toBe(40);
    expect(ctx.deadLetters).toEqual([]);
  });

  it('does not retry a permanent failure (400): that alert is dead-lettered, the others delivered', async () => {
    const s = await server();
    const ctx = createTestContext({ kind: 'exporter', name: 'webhook' });
    const exporter = new WebhookExporter(ctx, webhookExporter.validate({ url: s.url }));
    const alerts = [buildAlert(), buildAlert(), buildAlert()];
    const rejectedKey = alerts[1]?.id;
    s.behaviour = (_n, req) => (req.key === rejectedKey ? { status: 400 } : { status: 202 });
    const runner = new ExportRunner(exporter, ctx, { retry: { maxAttempts: 5, initialDelayMs: 10 } });
    runner.start();
    for (const a of alerts) runner.enqueue(a);
    await runner.drain(AbortSignal.timeout(5_000));
    await exporter.shutdown();
    expect(s.requests.filter((r) => r.key === rejectedKey)).toHaveLength(1);
    expect(s.processed.size).toBe(2);
    expect(ctx.deadLetters.map((d) => [d.reason, d.alert?.id])).toEqual([['permanent_error', rejectedKey]]);
    expect(ctx.deadLetters[0]?.message).toContain('HTTP 400');
  });

  it('delivers the alerts of a pipeline run; the server dedups retried requests by key', async () => {
    const s = await server();
    s.behaviour = (n) => (n % 3 === 0 ? { status: 503 } : { status: 200 });
    const events = Array.from({ length: 30 }, (_, i) => flowEvent({ bytes: i, sourceId: `f${i}` }));
    const pipeline = createPipeline({
      receivers: [new MemoryReceiver(events)],
      detections: [
        rule({
          id: 'r',
          title: 'R',
          severity: 'high',
          kinds: ['network_flow'],
          match: (e) => ({ dedupKey: String(e.bytes), explanation: { summary: `${e.bytes}` } }),
        }),
      ],
      exporters: [webhookExporter({ url: s.url, retry: { initialDelayMs: 5, maxAttempts: 10 } })],
    });
    await pipeline.start();
    await pipeline.done;
    const report = await pipeline.shutdown();
    expect(report.clean).toBe(true);
    expect(s.processed.size).toBe(30);
    expect(s.duplicates).toBe(0);
  });
});

describe('webhook exporter: killed and restarted', () => {
  const here = fileURLToPath(new URL('./support/', import.meta.url));
  const runChild = (args: string[]) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', join(here, 'ts-loader.mjs'), join(here, 'kill-child.ts'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))));
    return { child, exited, output: () => out, errors: () => err };
  };
  const waitFor = async (check: () => boolean, what: string, timeoutMs = 90_000) => {
    const started = Date.now();
    while (!check()) {
      if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('SIGKILL mid-delivery loses nothing: the outbox re-sends on restart, duplicates carry the same key', async () => {
    const s = await server();
    s.behaviour = () => ({ status: 200, delayMs: 15 });
    const dir = mkdtempSync(join(tmpdir(), 'outflow-kill-'));
    dirs.push(dir);
    const outbox = join(dir, 'webhook.outbox.jsonl');
    const N = 300;

    const first = runChild([s.url, outbox, String(N)]);
    await waitFor(() => /durable (\d+)/.test(first.output()) || first.errors().length > 0, 'the outbox to be durable');
    expect(first.errors()).toBe('');
    expect(first.output()).toContain(`durable ${N}`);
    await waitFor(() => s.processed.size >= N / 4, 'a quarter of the alerts to arrive');
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe(-1);
    await new Promise((r) => setTimeout(r, 100)); // answers to requests received before the kill still land
    const beforeRestart = s.processed.size;
    expect(beforeRestart).toBeLessThan(N);

    const second = runChild([s.url, outbox, String(N), '--resume']);
    expect(await second.exited).toBe(0);
    const out = second.output();
    const recovered = Number(/recovered (\d+)/.exec(out)?.[1]);
    expect(recovered).toBeGreaterThanOrEqual(N - beforeRestart);
    expect(recovered).toBeLessThanOrEqual(N - beforeRestart + 30); // at most the acknowledgements lost with the process
    expect(out).toContain(`delivered ${recovered}`);
    expect(out).toContain('dead 0');

    // Nothing lost: every alert arrived, each counted once by idempotency key.
    expect(s.processed.size).toBe(N);
    const keys = s.requests.map((r) => r.key);
    const distinct = new Set(keys);
    expect(distinct.size).toBe(N);
    // Duplicates (sent before the kill, not acknowledged) are re-deliveries of the same keys.
    const duplicates = keys.length - distinct.size;
    expect(duplicates).toBe(s.duplicates + s.requests.filter((r) => !s.processed.has(r.key as string)).length);
    expect(duplicates).toBe(recovered - (N - beforeRestart));
    for (const r of s.requests) expect((r.json as WebhookDelivery).idempotencyKey).toBe(r.key);
    process.stdout.write(
      `kill test: ${N} alerts, ${beforeRestart} before SIGKILL, ${recovered} re-sent from the outbox, ${duplicates} duplicates absorbed by key\n`,
    );
  });
});

defineConformanceTests(
  'webhook exporter conformance',
  exporterConformance({
    factory: webhookExporter,
    defaultConfigRequiresInput: true,
    async setup() {
      const s = new WebhookServer();
      await s.listen();
      return {
        config: { url: s.url },
        received: async () => s.requests.map((r) => (r.json as { alert?: Alert }).alert?.id).filter((id): id is string => typeof id === 'string'),
        close: () => s.close(),
      };
    },
  }),
);
