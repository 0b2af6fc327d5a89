import { appendFileSync, rmSync } from 'node:fs';
import { Agent, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { type Alert, alertFromFinding, type Exporter, ExportRunner, T1537 } from '@outflow/core';
import { ConsoleExporter, consoleExporter } from '@outflow/exporter-console';
import { FileExporter, fileExporter } from '@outflow/exporter-file';
import { buildQuarantinePolicy, k8sQuarantine, QuarantineExporter } from '@outflow/exporter-k8s-quarantine';
import { OtlpLogsExporter, otlpLogs } from '@outflow/exporter-otlp';
import { WebhookExporter, webhookExporter } from '@outflow/exporter-webhook';
import { barePost, context } from '../export-kit.js';
import type { Figure, Suite } from '../harness.js';

const T0 = Date.UTC(2024, 4, 1);

/** Realistic alerts: workload, evidence, explanation, attributes. */
function makeAlerts(n: number): Alert[] {
  return Array.from({ length: n }, (_, i) =>
    alertFromFinding(
      {
        detection: { id: 'egress_volume_anomaly', title: 'Unusual egress volume', attack: T1537 },
        severity: i % 10 === 0 ? 'critical' : 'high',
        time: T0 + i,
        workload: {
          cluster: 'prod-eu',
          namespace: `ns-${i % 20}`,
          workloadKind: 'Deployment',
          workloadName: `app-${i % 200}`,
          pod: `app-${i % 200}-7d9f8c-abcde`,
          container: 'app',
          image: 'registry.example/app:1.4.2',
          labels: { app: `app-${i % 200}`, 'pod-template-hash': '7d9f8c' },
          account: '111122223333',
        },
        evidence: [
          { source: 'aws_vpc_flow', id: `eni-1:${i}` },
          { source: 'aws_vpc_flow', id: `eni-1:${i + 1}` },
        ],
        explanation: {
          summary: `app-${i % 200} sent ${(i % 50) + 1}.2 GB to 203.0.113.${i % 250} in 5 min`,
          observed: 'bytes_out=5.2 GB in 5 min',
          expected: 'p99 140 MB (median 12 MB)',
          score: 7.25,
          threshold: 4,
          reasons: ['destination never seen from this workload'],
        },
        dedupKey: `k${i}`,
        attributes: { 'destination.address': `203.0.113.${i % 250}`, 'destination.port': 443, 'cloud.provider': 'aws' },
        response: { contain: ['apply the quarantine NetworkPolicy'] },
      },
      T0 + i + 1000,
    ),
  );
}

class Discard extends Writable {
  bytes = 0;
  override _write(chunk: Buffer | string, _e: BufferEncoding, cb: () => void) {
    this.bytes += chunk.length;
    cb();
  }
}

/** A loopback HTTP sink that reads each body and answers 200; counts requests. */
async function sink(): Promise<{ url: string; server: Server; requests: () => number }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.on('error', () => {});
    res.on('error', () => {});
    req.resume();
    req.on('end', () => {
      n++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests: () => n };
}

async function exportAll(exporter: Exporter, alerts: readonly Alert[], batch = 512): Promise<number> {
  const signal = new AbortController().signal;
  for (let i = 0; i < alerts.length; i += batch) await exporter.export(alerts.slice(i, i + batch), signal);
  return alerts.length;
}

export const suite: Suite = {
  name: 'exporters',
  description: 'Throughput of each exporter (console, file, webhook, OTLP, quarantine) and of the export runner with an outbox, against bare baselines',
  async run(h) {
    const figures: Figure[] = [];
    const dir = h.tmpDir();
    const add = (id: string, title: string, value: number, unit: string, ratio?: { value: number; to: string }, notes?: string) =>
      figures.push({ id, title, value, unit, ...(ratio ? { ratio } : {}), ...(notes ? { notes } : {}) });

    // Console: format + write to a discarding stream, against JSON.stringify to the same stream.
    {
      const alerts = makeAlerts(h.quick ? 5_000 : 20_000);
      const out = new Discard();
      const exporter = new ConsoleExporter(context('console'), consoleExporter.validate({ stream: out, color: 'never' }));
      const runs = await h.compare({
        console: () => exportAll(exporter, alerts),
        bare: () => {
          for (const a of alerts) out.write(`${JSON.stringify(a)}\n`);
          return alerts.length;
        },
      });
      add('export.console', 'console exporter (format + explanation)', runs.console!.perSecond, 'alerts/s', {
        value: runs.console!.perSecond / runs.bare!.perSecond,
        to: 'JSON.stringify per alert to the same stream',
      });
    }

    // File: JSON lines, with and without fsync, against bare appendFileSync of the same lines.
    {
      const alerts = makeAlerts(h.quick ? 10_000 : 50_000);
      let round = 0;
      const fresh = (fsync: boolean) => {
        const path = join(dir, `alerts-${fsync ? 'sync' : 'plain'}-${round++}.jsonl`);
        return { path, exporter: new FileExporter(context('file'), fileExporter.validate({ path, fsync, maxBytes: 0 })) };
      };
      const runs = await h.compare({
        file: async () => {
          const { path, exporter } = fresh(false);
          const n = await exportAll(exporter, alerts);
          await exporter.shutdown();
          rmSync(path);
          return n;
        },
        fileFsync: async () => {
          const { path, exporter } = fresh(true);
          const n = await exportAll(exporter, alerts);
          await exporter.shutdown();
          rmSync(path);
          return n;
        },
        bare: () => {
          const path = join(dir, `bare-${round++}.jsonl`);
          for (let i = 0; i < alerts.length; i += 512) {
            let chunk = '';
            for (const a of alerts.slice(i, i + 512)) chunk += `${JSON.stringify(a)}\n`;
            appendFileSync(path, chunk);
          }
          rmSync(path);
          return alerts.length;
        },
      });
      add('export.file', 'file exporter (JSON lines, batches of 512)', runs.file!.perSecond, 'alerts/s', {
        value: runs.file!.perSecond / runs.bare!.perSecond,
        to: 'bare appendFileSync of the same lines',
      });
      add('export.file_fsync', 'file exporter with fsync per batch', runs.fileFsync!.perSecond, 'alerts/s', {
        value: runs.fileFsync!.perSecond / runs.file!.perSecond,
        to: 'file exporter without fsync',
      });
    }

    // Webhook: one POST per alert (concurrency 8), and batched, against bare keep-alive POSTs of the same bodies.
    {
      const s = await sink();
      const alerts = makeAlerts(h.quick ? 1_000 : 2_000);
      const url = `${s.url}/hook`;
      const perAlert = new WebhookExporter(context('webhook'), webhookExporter.validate({ url, concurrency: 8, hmac: { secret: 'bench' } }));
      const batched = new WebhookExporter(context('webhook'), webhookExporter.validate({ url, batch: true }));
      const agent = new Agent({ keepAlive: true, maxSockets: 8 });
      let round = 0;
      // Fresh delivery keys per run: the exporter skips keys it already delivered.
      const rekey = () => {
        round++;
        return alerts.map((a) => ({ ...a, id: `${a.id.slice(0, 24)}${round.toString(16).padStart(8, '0')}` }));
      };
      const runs = await h.compare({
        webhook: () => exportAll(perAlert, rekey()),
        bare: () =>
          barePost(
            url,
            alerts.map((a) => JSON.stringify({ idempotencyKey: a.id, alert: a })),
            8,
            agent,
          ),
      });
      const batchRuns = await h.compare({ webhookBatch: () => exportAll(batched, rekey()), webhook: () => exportAll(perAlert, rekey()) });
      add('export.webhook', 'webhook exporter, one POST per alert (8 in flight, HMAC)', runs.webhook!.perSecond, 'alerts/s', {
        value: runs.webhook!.perSecond / runs.bare!.perSecond,
        to: 'bare keep-alive POSTs of the same JSON bodies (serialized in the run)',
      });
      add('export.webhook_batch', 'webhook exporter, batch of 512 per POST', batchRuns.webhookBatch!.perSecond, 'alerts/s', {
        value: batchRuns.webhookBatch!.perSecond / batchRuns.webhook!.perSecond,
        to: 'one POST per alert',
      });
      await perAlert.shutdown();
      await batched.shutdown();
      agent.destroy();
      s.server.closeAllConnections();
      s.server.close();
    }

    // OTLP: log records through the SDK and OTLP/HTTP JSON, against bare POSTs of the alerts as JSON arrays.
    {
      const s = await sink();
      const alerts = makeAlerts(h.quick ? 5_000 : 10_000);
      const url = `${s.url}/v1/logs`;
      const exporter = new OtlpLogsExporter(context('otlp'), otlpLogs.validate({ url, maxExportBatchSize: 512 }));
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      let round = 0;
      const rekey = () => {
        round++;
        return alerts.map((a) => ({ ...a, id: `${a.id.slice(0, 24)}${round.toString(16).padStart(8, '0')}` }));
      };
      const runs = await h.compare({
        otlp: () => exportAll(exporter, rekey()),
        bare: async () => {
          const chunks: string[] = [];
          for (let i = 0; i < alerts.length; i += 512) chunks.push(JSON.stringify(alerts.slice(i, i + 512)));
          await barePost(url, chunks, 1, agent);
          return alerts.length;
        },
      });
      add('export.otlp', 'OTLP logs exporter (SDK batch processor, OTLP/HTTP JSON, 512 per request)', runs.otlp!.perSecond, 'alerts/s', {
        value: runs.otlp!.perSecond / runs.bare!.perSecond,
        to: 'bare POSTs of the alerts as JSON arrays of 512 (serialized in the run)',
      });
      await exporter.shutdown();
      agent.destroy();
      s.server.closeAllConnections();
      s.server.close();
    }

    // Quarantine: policy + YAML manifest written per alert, against building the policy only.
    {
      const alerts = makeAlerts(h.quick ? 500 : 1_000);
      const config = k8sQuarantine.validate({ directory: join(dir, 'quarantine') });
      const exporter = new QuarantineExporter(context('k8s_quarantine'), config);
      const options = {
        selectorLabels: config.selectorLabels,
        ignoreLabels: config.ignoreLabels,
        isolateIngress: false,
        allowDns: true,
        dns: config.dns,
        allowCidrs: [],
        allowNamespaces: [],
        protectedNamespaces: config.protectedNamespaces,
        namePrefix: config.namePrefix,
        annotationPrefix: config.annotationPrefix,
      };
      const runs = await h.compare({
        quarantine: () => exportAll(exporter, alerts, 64),
        build: () => {
          for (const a of alerts) buildQuarantinePolicy(a, options);
          return alerts.length;
        },
      });
      add('export.k8s_quarantine', 'quarantine exporter (policy, schema check, YAML manifest, decisions log)', runs.quarantine!.perSecond, 'alerts/s', {
        value: runs.quarantine!.perSecond / runs.build!.perSecond,
        to: 'building the policy only',
      });
      await exporter.shutdown();
    }

    // Export runner: queue, batching and the write-ahead outbox, in front of the file exporter, against calling it directly.
    {
      const alerts = makeAlerts(h.quick ? 10_000 : 50_000);
      let round = 0;
      const fileAt = () => {
        const path = join(dir, `runner-${round++}.jsonl`);
        return { path, exporter: new FileExporter(context('file'), fileExporter.validate({ path, maxBytes: 0 })) };
      };
      const viaRunner = async (outbox: 'none' | 'wal' | 'wal_fsync') => {
        const { path, exporter } = fileAt();
        const outboxPath = join(dir, `outbox-${round}.jsonl`);
        const runner = new ExportRunner(exporter, context('runner'), {
          capacity: 10_000,
          ...(outbox === 'none' ? {} : { outbox: { path: outboxPath, fsync: outbox === 'wal_fsync' } }),
        });
        runner.start();
        for (const a of alerts) {
          if (!runner.hasRoom()) await runner.waitForRoom();
          runner.enqueue(a);
        }
        await runner.drain(new AbortController().signal);
        await exporter.shutdown();
        rmSync(path, { force: true });
        rmSync(outboxPath, { force: true });
        if (runner.delivered !== alerts.length) throw new Error(`runner delivered ${runner.delivered} of ${alerts.length}`);
        return alerts.length;
      };
      const runs = await h.compare({
        direct: async () => {
          const { path, exporter } = fileAt();
          const n = await exportAll(exporter, alerts);
          await exporter.shutdown();
          rmSync(path, { force: true });
          return n;
        },
        runner: () => viaRunner('none'),
        outbox: () => viaRunner('wal'),
        outboxFsync: () => viaRunner('wal_fsync'),
      });
      add('export.runner', 'export runner (queue, batching) + file exporter', runs.runner!.perSecond, 'alerts/s', {
        value: runs.runner!.perSecond / runs.direct!.perSecond,
        to: 'file exporter called directly in batches of 512',
      });
      add('export.runner_outbox', 'export runner + file exporter, write-ahead outbox (no fsync)', runs.outbox!.perSecond, 'alerts/s', {
        value: runs.outbox!.perSecond / runs.runner!.perSecond,
        to: 'runner without outbox',
      });
      add('export.runner_outbox_fsync', 'export runner + file exporter, write-ahead outbox with fdatasync per batch', runs.outboxFsync!.perSecond, 'alerts/s', {
        value: runs.outboxFsync!.perSecond / runs.runner!.perSecond,
        to: 'runner without outbox',
      });
    }
    return figures;
  },
};
