#!/usr/bin/env node
// Throughput of partitioned detection on this machine: one detector process, then two, over the same events.
//
// Publishes a larger generated scenario (default 48 h, background scale 4) to a fresh stream, enriched as the
// collector does, followed by end markers; then runs the detectors (static assignment, the full t1537 preset
// plus the demo's checkpointed analytics, checkpoints to KV every 5 s, alerts to the alerts stream) and
// measures from the first partition started to the last partition at its end marker. Also measures the same
// events through one in-process pipeline without NATS, for reference.
//
//   node dist/throughput.js [--hours 48] [--scale 4] [--demo-preset]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { OutflowEvent } from '@outflow/core';
import { findNatsServer, NatsEventPublisher, startNatsServer } from '@outflow/transport-nats';
import { Child, until } from './cluster.js';
import { collectorEnrichers, demoKey, demoPreset, PARTITIONS } from './config.js';
import { decodeScenario, writeDemoScenario } from './scenario.js';
import { runSingle } from './single.js';

const { values } = parseArgs({
  options: {
    hours: { type: 'string', default: '48' },
    scale: { type: 'string', default: '4' },
    'demo-preset': { type: 'boolean', default: false },
  },
});
const out = (line: string) => process.stdout.write(`${line}\n`);
if (!findNatsServer()) {
  out('throughput skipped: nats-server is not installed');
  process.exit(0);
}
const work = mkdtempSync(join(tmpdir(), 'outflow-nats-throughput-'));
const nats = await startNatsServer({ partitions: PARTITIONS });
const children: Child[] = [];
try {
  const { telemetry, files } = writeDemoScenario(join(work, 'scenario'), { hours: Number(values.hours), workloads: Number(values.scale) });
  const full = !values['demo-preset'];
  const preset = demoPreset(telemetry.presetConfig, full);
  const decoded = decodeScenario(files);
  const events = decoded.events.length;
  out(
    `${events.toLocaleString('en-US')} events (${values.hours} h, scale ${values.scale}), ${PARTITIONS} partitions, ${full ? 'full t1537 preset' : 'demo preset'} + checkpointed demo analytics`,
  );

  const single = await runSingle(decodeScenario(files).events, preset);
  out(`in-process pipeline, no NATS: ${Math.round(events / (single.ms / 1000)).toLocaleString('en-US')} events/s (${(single.ms / 1000).toFixed(1)} s)`);

  const enrich = await collectorEnrichers(preset);
  const enriched = decoded.events.map((e) => enrich.enrich(e)).filter((e): e is OutflowEvent => e !== undefined);
  await enrich.close();
  const publisher = await NatsEventPublisher.open(
    { servers: [nats.url] },
    { stream: { partitions: PARTITIONS }, key: demoKey((telemetry.presetConfig.cluster as { name?: string } | undefined)?.name) },
  );
  const t0 = Date.now();
  for (let i = 0; i < enriched.length; i += 2_000) await publisher.publish(enriched.slice(i, i + 2_000));
  const publishMs = Date.now() - t0;
  await publisher.end();
  await publisher.close();
  out(`collector publish (server-side partitioning, acknowledged): ${Math.round(enriched.length / (publishMs / 1000)).toLocaleString('en-US')} events/s`);

  for (const instances of [1, 2]) {
    const group = `throughput-${instances}`;
    const detectors = Array.from(
      { length: instances },
      (_, i) =>
        new Child(`t${i}`, './detector.js', [
          '--url',
          nats.url,
          '--id',
          `t${i}`,
          '--preset',
          files.config,
          ...(full ? ['--full-preset'] : []),
          '--static',
          `${i}/${instances}`,
          '--group',
          group,
          '--checkpoint-ms',
          '5000',
        ]),
    );
    children.push(...detectors);
    const all = () => detectors.flatMap((d) => d.events);
    await until(() => all().filter((e) => e.type === 'completed').length === PARTITIONS, 300_000, `${instances} detector(s) to finish`, detectors);
    const first = Math.min(
      ...all()
        .filter((e) => e.type === 'started')
        .map((e) => e.at),
    );
    const last = Math.max(
      ...all()
        .filter((e) => e.type === 'completed')
        .map((e) => e.at),
    );
    const seconds = (last - first) / 1000;
    out(
      `${instances} detector process${instances > 1 ? 'es' : ''}: ${Math.round(enriched.length / seconds).toLocaleString('en-US')} events/s (${seconds.toFixed(1)} s from the first partition started to the last at its end marker)`,
    );
    for (const d of detectors) await d.stop();
  }
} finally {
  for (const c of children) await c.kill();
  await nats.stop();
  rmSync(work, { recursive: true, force: true });
}
