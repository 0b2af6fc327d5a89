#!/usr/bin/env node
// npm run demo:cluster — partitioned detection on NATS JetStream, with a detector killed mid-stream.
//
// Starts nats-server on loopback, an exporter process and three detector processes; replays the demo scenario
// through a collector (decode → enrich → publish, partitioned by workload); kills one detector with SIGKILL when
// 45% of the input is published; its partitions move (leases expire) and their new owners restore the last
// checkpoint and replay from its position. Compares the alerts delivered to the final sink with a single-process
// run of the same input. Last line: `cluster alerts=<n> single=<m> lost=<x> duplicated=<y>`.
//
//   node dist/demo.js [--full-preset] [--keep]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Alert, deliveryKey, type OutflowEvent } from '@outflow/core';
import { detectionKey, findNatsServer, NatsEventPublisher, partitionOf, startNatsServer, subjectToken } from '@outflow/transport-nats';
import { Child, type ChildEvent, ownership, until } from './cluster.js';
import { collectorEnrichers, demoKey, demoPreset, OFF_IN_DEMO, PARTITIONS } from './config.js';
import { decodeScenario, writeDemoScenario } from './scenario.js';
import { runSingle } from './single.js';

const { values } = parseArgs({
  options: {
    'full-preset': { type: 'boolean', default: false },
    // A control: detectors save their state under another version, so a partition's next owner cannot restore it.
    relearn: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const out = (line: string) => process.stdout.write(`${line}\n`);
const n = (x: number) => x.toLocaleString('en-US');

if (!findNatsServer()) {
  out('nats-cluster demo skipped: nats-server is not installed (apt-get install nats-server, or set NATS_SERVER_BIN)');
  process.exit(0);
}

const started = Date.now();
const work = mkdtempSync(join(tmpdir(), 'outflow-nats-cluster-'));
const children: Child[] = [];
let nats: Awaited<ReturnType<typeof startNatsServer>> | undefined;
try {
  // The input: the scenario `outflow demo` replays, written as the sources deliver it, decoded with the receivers' formats.
  const { telemetry, files } = writeDemoScenario(join(work, 'scenario'));
  const presetPath = files.config;
  const preset = demoPreset(telemetry.presetConfig, values['full-preset']);
  const decoded = decodeScenario(files);
  out(
    `nats-cluster demo: ${n(decoded.events.length)} events (${telemetry.meta.hours} h of a small cluster), ${PARTITIONS} partitions, 3 detector processes, 1 exporter process`,
  );
  if (!values['full-preset']) out(`  (t1537 analytics off in both runs, see src/config.ts: ${OFF_IN_DEMO.join(', ')})`);
  if (values.relearn) out('  (control: each detector saves state under its own version, so moved partitions relearn instead of restoring)');

  // 1. The reference: one uninterrupted process.
  const single = await runSingle(decodeScenario(files).events, preset);
  const singleIds = new Set(single.alerts.map((a) => a.id));
  out(`single process: ${singleIds.size} alerts (${single.alerts.length} deliveries) in ${(single.ms / 1000).toFixed(1)} s`);

  // 2. The cluster.
  nats = await startNatsServer({ partitions: PARTITIONS });
  const url = nats.url;
  const sinkPath = join(work, 'delivered.jsonl');
  const exporter = new Child('exporter', './exporter.js', ['--url', url, '--out', sinkPath]);
  children.push(exporter);
  const detectors = ['d1', 'd2', 'd3'].map(
    (id) =>
      new Child(id, './detector.js', [
        '--url',
        url,
        '--id',
        id,
        '--preset',
        presetPath,
        ...(values['full-preset'] ? ['--full-preset'] : []),
        ...(values.relearn ? ['--state-version', `relearn-${id}`] : []),
      ]),
  );
  children.push(...detectors);
  await until(() => exporter.events.some((e) => e.type === 'ready'), 30_000, 'the exporter', children);
  // Leases settle: every partition owned, every detector with its share, no change for a second.
  let lastChange = Date.now();
  let last = '';
  await until(
    () => {
      const owner = ownership(detectors);
      const key = JSON.stringify([...owner.entries()].sort((a, b) => a[0] - b[0]));
      if (key !== last) {
        last = key;
        lastChange = Date.now();
      }
      const counts = detectors.map((d) => [...owner.values()].filter((o) => o === d.name).length);
      return owner.size === PARTITIONS && counts.every((c) => c > 0) && Date.now() - lastChange > 1_000;
    },
    60_000,
    'the detectors to share the partitions',
    children,
  );
  const before = ownership(detectors);
  for (const d of detectors)
    out(
      `  ${d.name} runs partitions ${[...before.entries()]
        .filter(([, o]) => o === d.name)
        .map(([p]) => p)
        .sort((a, b) => a - b)
        .join(',')}`,
    );

  // The collector: enrich (so flows carry their workload), then publish, partitioned by detection key.
  const enrich = await collectorEnrichers(preset);
  const enriched = decoded.events.map((e) => enrich.enrich(e)).filter((e): e is OutflowEvent => e !== undefined);
  await enrich.close();
  const key = demoKey((telemetry.presetConfig.cluster as { name?: string } | undefined)?.name);
  const partitionOfEvent = (e: OutflowEvent) => partitionOf(subjectToken(key(e) ?? detectionKey(e)), PARTITIONS);
  // The worst moment to lose a detector: in the middle of the exfiltration. The upload flows of the attack
  // (from the scenario's labels); the detector running their partition dies after the 4th, its last
  // checkpoint having been taken after the 2nd.
  const upload = telemetry.labels.find((l) => l.kind === 'attack' && l.step === 'upload');
  const uploads = enriched
    .map((e, i) => ({ e, i }))
    .filter(
      ({ e }) => upload && e.kind === 'network_flow' && e.direction === 'egress' && e.time >= upload.start && e.time <= upload.end && (e.bytes ?? 0) >= 1e8,
    )
    .map(({ i }) => i);
  if (uploads.length < 8) throw new Error(`the scenario has ${uploads.length} upload flows; expected at least 8`);
  const attackPartition = partitionOfEvent(enriched[uploads[0] as number] as OutflowEvent);
  const victim = detectors.find((d) => before.get(attackPartition) === d.name) as Child;
  const checkpointAfter = (uploads[1] as number) + 1;
  const killAfter = (uploads[3] as number) + 1;
  const publisher = await NatsEventPublisher.open({ servers: [url], name: 'collector' }, { stream: { partitions: PARTITIONS }, key });
  const publish = async (from: number, to: number, paced: boolean) => {
    const chunk = Math.ceil(enriched.length / 40);
    for (let i = from; i < to; i += chunk) {
      const result = await publisher.publish(enriched.slice(i, Math.min(to, i + chunk)));
      if (result.failed.length > 0) throw new Error(`publishing failed: ${result.failed[0]?.error.message}`);
      if (paced) await new Promise((r) => setTimeout(r, 150));
    }
  };
  await publish(0, checkpointAfter, true);
  // Processed, and covered by a periodic checkpoint (every second).
  await new Promise((r) => setTimeout(r, 2_000));
  await publish(checkpointAfter, killAfter, false);
  await new Promise((r) => setTimeout(r, 300));
  await victim.kill();
  const victimParts = [...before.entries()].filter(([, o]) => o === victim.name).map(([p]) => p);
  const killedAt = Date.now();
  out(
    `killed ${victim.name} (SIGKILL) in the middle of the exfiltration: after 4 of the ${uploads.length} upload flows, ${n(killAfter)} of ${n(enriched.length)} events published; its partitions ${victimParts.join(',')} move`,
  );
  await publish(killAfter, enriched.length, true);
  await publisher.end();
  await publisher.close();

  // Every partition reaches its end marker on a surviving detector.
  const survivors = detectors.filter((d) => d !== victim);
  const completed = () => new Set(survivors.flatMap((d) => d.events.filter((e) => e.type === 'completed').map((e) => e.partition as number)));
  await until(() => completed().size === PARTITIONS, 90_000, 'every partition to reach its end marker', children).catch((err: Error) => {
    const missing = Array.from({ length: PARTITIONS }, (_, p) => p).filter((p) => !completed().has(p));
    const trail = survivors.flatMap((d) => d.events.filter((e) => missing.includes(e.partition as number)).map((e) => JSON.stringify(e)));
    throw new Error(`${err.message}\npartitions without an end: ${missing.join(',')}\n${trail.join('\n')}`);
  });
  const moved = survivors.flatMap((d) =>
    d.events.filter((e) => e.type === 'started' && e.at > killedAt && victimParts.includes(e.partition as number)).map((e) => ({ d, e })),
  );
  for (const { d, e } of moved.sort((a, b) => (a.e.partition as number) - (b.e.partition as number))) {
    const done = d.events.find((x) => x.type === 'completed' && x.partition === e.partition) as ChildEvent | undefined;
    const from = !e.restored
      ? 'no checkpoint: replayed the partition from its start'
      : !e.position
        ? 'checkpoint restored (taken before any of its events)'
        : `checkpoint restored, replayed from stream sequence ${e.position + 1}`;
    out(
      `  partition ${e.partition}${e.partition === attackPartition ? ' (the attacked workload)' : ''} → ${d.name}: ${from}; re-published alerts dropped as duplicates: ${done?.duplicates ?? 0}`,
    );
  }

  // The exporter has delivered everything on the alerts stream: no backlog, nothing new for a second.
  let stableSince = Date.now();
  let seen = -1;
  await until(
    () => {
      const p = [...exporter.events].reverse().find((e) => e.type === 'progress');
      if (p?.pending !== 0 || p.unacknowledged !== 0 || p.inHand !== 0 || p.delivered !== seen) {
        seen = (p?.delivered as number | undefined) ?? -1;
        stableSince = Date.now();
        return false;
      }
      return Date.now() - stableSince > 1_000;
    },
    30_000,
    'the exporter to deliver every alert',
    children,
  );
  for (const c of children) await c.stop();

  // 3. Compare what reached the final sink with the single run.
  const lines = readFileSync(sinkPath, 'utf8').split('\n').filter(Boolean);
  const delivered = lines.map((l) => JSON.parse(l) as Alert);
  const keys = delivered.map((a) => deliveryKey(a));
  const duplicated = keys.length - new Set(keys).size;
  const clusterIds = new Set(delivered.map((a) => a.id));
  const lost = [...singleIds].filter((id) => !clusterIds.has(id));
  const extra = [...clusterIds].filter((id) => !singleIds.has(id));
  const singleKeys = new Set(single.alerts.map(deliveryKey));
  const sameDeliveries = singleKeys.size === new Set(keys).size && [...singleKeys].every((k) => keys.includes(k));
  out(
    `exporter: ${n(delivered.length)} deliveries to the file sink; ${extra.length} alert ids the single run does not have; deliveries ${sameDeliveries ? 'identical to' : 'different from'} the single run's`,
  );
  const byDetection = new Map<string, number>();
  for (const a of delivered) if (a.status === 'new') byDetection.set(a.detection.id, (byDetection.get(a.detection.id) ?? 0) + 1);
  out(`  alerts by detection: ${[...byDetection.entries()].map(([d, c]) => `${d} ${c}`).join(', ')}`);
  for (const id of extra) {
    const a = delivered.find((x) => x.id === id);
    out(`  not in the single run: ${a?.detection.id} ${a?.dedupKey} (first seen ${a ? new Date(a.firstSeen).toISOString() : '?'})`);
  }
  for (const id of lost) out(`  lost: ${single.alerts.find((a) => a.id === id)?.detection.id} ${single.alerts.find((a) => a.id === id)?.dedupKey}`);
  out(`demo took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  out(`cluster alerts=${clusterIds.size} single=${singleIds.size} lost=${lost.length} duplicated=${duplicated}`);
  process.exitCode = lost.length === 0 && duplicated === 0 ? 0 : 1;
} catch (err) {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
} finally {
  for (const c of children) await c.kill();
  await nats?.stop();
  if (!values.keep) rmSync(work, { recursive: true, force: true });
  else out(`kept ${work}`);
}
