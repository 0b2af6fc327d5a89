/**
 * The exporting side of the webhook kill test, run as a child process:
 *
 *   node --conditions=source --import ./ts-loader.mjs kill-child.ts <url> <outbox> <count> [--resume]
 *
 * Without --resume it enqueues <count> alerts into an ExportRunner with a
 * write-ahead outbox, prints `durable <n>` once they are synced to disk, and
 * keeps delivering until killed. With --resume it enqueues nothing: it re-sends
 * what the outbox holds, prints `recovered <n>` and `delivered <n>`, and exits.
 */
import { alertFromFinding, ExportRunner, T1537 } from '@outflow/core';
import { createTestContext } from '@outflow/testkit';
import { webhookExporter } from '../../src/index.js';

const [url, outbox, countText, flag] = process.argv.slice(2);
const resume = flag === '--resume';
const ctx = createTestContext({ name: 'webhook', kind: 'exporter' });
const exporter = webhookExporter.create(ctx, webhookExporter.validate({ url, concurrency: 2, timeoutMs: 5_000 }));
const runner = new ExportRunner(exporter, ctx, {
  outbox: { path: outbox as string },
  batchSize: 10,
  retry: { maxAttempts: 100, initialDelayMs: 20, maxDelayMs: 200 },
});
runner.start();
process.stdout.write(`recovered ${runner.recoveredCount}\n`);
if (!resume) {
  const T0 = Date.UTC(2024, 0, 1);
  for (let i = 0; i < Number(countText); i++) {
    runner.enqueue(
      alertFromFinding(
        {
          detection: { id: 'kill_test', title: 'Kill test', attack: T1537 },
          severity: 'high',
          time: T0 + i,
          evidence: [{ source: 'test', id: `e${i}` }],
          explanation: { summary: `alert ${i}` },
          dedupKey: `k${i}`,
        },
        T0,
      ),
    );
  }
  await runner.flushOutbox();
  process.stdout.write(`durable ${runner.outbox?.durable}\n`);
  setInterval(() => {}, 1000); // keep delivering until SIGKILL
} else {
  await runner.drain(AbortSignal.timeout(60_000));
  await exporter.shutdown();
  process.stdout.write(`delivered ${runner.delivered}\n`);
  const dead = ctx.deadLetters.length;
  process.stdout.write(`dead ${dead}\n`);
}
