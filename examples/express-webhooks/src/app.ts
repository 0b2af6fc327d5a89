import type { Server } from 'node:http';
import { type Alert, createPipeline, type Exporter, type Pipeline } from '@outflow/core';
import { t1537 } from '@outflow/detections';
import { consoleExporter } from '@outflow/exporter-console';
import { createPushReceiver } from '@outflow/io';
import { falcoDecoder } from '@outflow/receiver-falco';
import { k8sAuditDecoder } from '@outflow/receiver-k8s-audit';
import express from 'express';

export interface ServiceOptions {
  port?: number;
  /** Shared secret the webhook senders present as `Authorization: Bearer <token>`. */
  token: string;
  /** Where alerts go; default the console. */
  exporters?: Exporter[];
  /** Your organisation, for the preset (our accounts, trusted registries, ...). */
  presetConfig?: Parameters<typeof t1537>[0];
}

export interface Service {
  app: express.Express;
  pipeline: Pipeline;
  server: Server;
  port: number;
  close(): Promise<void>;
}

/**
 * An existing Express service that also receives Falco alerts (falcosidekick's webhook output or Falco's http_output)
 * and the kube-apiserver audit webhook, and runs the T1537 detections on them in process.
 */
export async function startService(options: ServiceOptions): Promise<Service> {
  const falcoIn = createPushReceiver();
  const auditIn = createPushReceiver();
  const pipeline = createPipeline({
    name: 'express-webhooks',
    receivers: [falcoIn, auditIn],
    detections: t1537(options.presetConfig ?? {}),
    exporters: options.exporters ?? [consoleExporter()],
    // Webhooks arrive in real time: wait little for stragglers.
    watermark: { maxOutOfOrdernessMs: 30_000, idleTimeoutMs: 5_000 },
  });
  await pipeline.start();

  const app = express();
  // Your service's own routes stay as they are.
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true, pipeline: pipeline.state });
  });

  // The security webhooks: authenticated, size-limited, raw bodies handed to Outflow's decoders.
  const auth: express.RequestHandler = (req, res, next) => {
    if (req.get('authorization') !== `Bearer ${options.token}`) {
      res.status(401).set('WWW-Authenticate', 'Bearer').end();
      return;
    }
    next();
  };
  const raw = express.raw({ type: () => true, limit: '10mb' });
  const ingest =
    (receiver: typeof falcoIn, decoder: Parameters<typeof falcoIn.handle>[1]): express.RequestHandler =>
    (req, res) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const r = receiver.handle({ body, remoteAddress: req.ip ?? 'unknown', headers: req.headers }, decoder);
      res
        .status(r.status)
        .set(r.headers ?? {})
        .send(r.body ?? '');
    };
  app.post('/webhooks/falco', auth, raw, ingest(falcoIn, falcoDecoder));
  app.post('/webhooks/k8s-audit', auth, raw, ingest(auditIn, k8sAuditDecoder));

  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(options.port ?? 0, '127.0.0.1', () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    app,
    pipeline,
    server,
    port,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pipeline.shutdown({ deadlineMs: 5_000 });
    },
  };
}

export type { Alert };
