#!/usr/bin/env node
// node dist/main.js — listens on 127.0.0.1:8080; POST Falco alerts to /webhooks/falco and audit EventLists to
// /webhooks/k8s-audit with `Authorization: Bearer $WEBHOOK_TOKEN`.
import { startService } from './app.js';

const token = process.env.WEBHOOK_TOKEN;
if (!token) {
  process.stderr.write('set WEBHOOK_TOKEN to the secret the webhook senders use\n');
  process.exit(2);
}
const service = await startService({ port: Number(process.env.PORT ?? 8080), token });
process.stderr.write(`listening on http://127.0.0.1:${service.port}\n`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void service.close());
