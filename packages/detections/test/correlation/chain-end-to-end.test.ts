import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Alert, createPipeline, MemoryDeadLetter, type OutflowEvent, silentLogger } from '@outflow/core';
import { cloudTrailDecoder } from '@outflow/receiver-aws-cloudtrail';
import { falcoDecoder } from '@outflow/receiver-falco';
import { createVpcFlowDecoder } from '@outflow/receiver-flow-logs';
import { k8sAuditDecoder } from '@outflow/receiver-k8s-audit';
import { tetragonDecoder } from '@outflow/receiver-tetragon';
import { generateScenario, MemoryExporter, MemoryReceiver, type StepLabel, writeScenario } from '@outflow/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { t1537 } from '../../src/index.js';
import { fixedClock } from '../helpers.js';
import { decodeDocument, decodeLines } from '../network/helpers.js';

/**
 * The chain end to end: the scenario generator's `exfil_chain` (a pod from an
 * untrusted image, kubectl exec, a token and secrets read, tar, a curl upload)
 * written as each source would deliver it, decoded by the real decoders, and
 * fed to a pipeline with one receiver per source. The sources arrive in
 * different orders — the flow records before the audit exec event, and the
 * reverse — and are delayed against each other; every order must give exactly
 * one incident.
 */

type Source = 'k8s_audit' | 'falco' | 'tetragon' | 'aws_vpc_flow' | 'aws_cloudtrail';

let dir: string;
let labels: StepLabel[];
let config: Record<string, unknown>;
const decoded = {} as Record<Source, OutflowEvent[]>;

beforeAll(() => {
  const t = generateScenario({ scenarios: ['web_services', 'exfil_chain'], hours: 2, attackAt: 0.5, seed: 7 });
  dir = mkdtempSync(join(tmpdir(), 'outflow-chain-'));
  const files = writeScenario(dir, t);
  labels = t.labels;
  config = t.presetConfig;
  decoded.k8s_audit = decodeLines(join(files.k8s_audit, 'audit.jsonl'), k8sAuditDecoder);
  decoded.falco = decodeLines(join(files.falco, 'falco.jsonl'), falcoDecoder);
  decoded.tetragon = decodeLines(join(files.tetragon, 'tetragon.jsonl'), tetragonDecoder);
  decoded.aws_vpc_flow = decodeLines(join(files.aws_vpc_flow, 'flows.log'), createVpcFlowDecoder());
  decoded.aws_cloudtrail = readdirSync(files.aws_cloudtrail)
    .sort()
    .flatMap((f) => decodeDocument(join(files.aws_cloudtrail, f), cloudTrailDecoder));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Run with one memory receiver per source. `order` is the order in which the
 * sources deliver; each delivers its events in chunks, and the next source
 * starts only after the previous one's first `lead` chunks were processed, so
 * the pipeline really sees them out of order. Receivers end once everything
 * was processed.
 */
async function run(order: readonly Source[], lead: number): Promise<{ alerts: Alert[]; deadLetter: MemoryDeadLetter }> {
  const receivers = order.map(() => new MemoryReceiver([], { complete: false }));
  const deadLetter = new MemoryDeadLetter();
  const pipeline = createPipeline({
    receivers,
    detections: t1537(config as never),
    exporters: [new MemoryExporter()],
    deadLetter,
    logger: silentLogger,
    clock: fixedClock,
  });
  const alerts: Alert[] = [];
  pipeline.alerts$.subscribe((a) => alerts.push(a));
  await pipeline.start();
  const tick = () => new Promise((r) => setTimeout(r, 1));
  const chunks = order.map((s) => {
    const events = decoded[s];
    const out: OutflowEvent[][] = [];
    for (let i = 0; i < events.length; i += 500) out.push(events.slice(i, i + 500));
    return out;
  });
  // Source k starts once source k-1 delivered `lead` chunks; then all deliver round-robin.
  for (let k = 0; k < chunks.length; k++) {
    for (let c = 0; c < lead; c++) {
      const chunk = chunks[k]?.shift();
      if (chunk) await receivers[k]?.push(...chunk);
      await tick();
    }
  }
  while (chunks.some((c) => c.length > 0)) {
    for (let k = 0; k < chunks.length; k++) {
      const chunk = chunks[k]?.shift();
      if (chunk) await receivers[k]?.push(...chunk);
    }
    await tick();
  }
  for (const r of receivers) r.complete();
  await pipeline.done;
  await pipeline.shutdown({ deadlineMs: 5_000 });
  return { alerts, deadLetter };
}

const step = (name: string) => labels.find((l) => l.scenario === 'exfil_chain' && l.step === name) as StepLabel;

describe('exfiltration_chain end to end across sources arriving out of order', () => {
  const orders: [string, Source[], number][] = [
    ['flows first, the audit exec last', ['aws_vpc_flow', 'tetragon', 'falco', 'aws_cloudtrail', 'k8s_audit'], 3],
    ['audit first, flows last', ['k8s_audit', 'falco', 'aws_cloudtrail', 'tetragon', 'aws_vpc_flow'], 1],
    ['runtime sensors first, interleaved', ['tetragon', 'aws_vpc_flow', 'k8s_audit', 'falco', 'aws_cloudtrail'], 2],
  ];
  const incidents: Alert[] = [];

  for (const [name, order, lead] of orders) {
    it(`${name}: exactly one incident, referencing the member alerts and their evidence`, async () => {
      const { alerts, deadLetter } = await run(order, lead);
      const chain = alerts.filter((a) => a.detection.id === 'exfiltration_chain');
      expect(chain.map((a) => a.status)).toEqual(['new']);
      const incident = chain[0] as Alert;
      incidents.push(incident);
      expect(incident.severity).toBe('high');
      expect(incident.workload?.pod).toBe(step('exec').workload?.split('/').pop());
      // Every related id is an alert the pipeline delivered, of a stage analytic, for this workload or its actor.
      const byId = new Map(alerts.map((a) => [a.id, a]));
      const members = (incident.related ?? []).map((id) => byId.get(id));
      expect(members.every((m) => m !== undefined)).toBe(true);
      const ids = new Set(members.map((m) => m?.detection.id));
      expect(ids.has('pod_exec')).toBe(true);
      expect(ids.has('egress_volume_anomaly') || ids.has('new_external_destination')).toBe(true);
      expect([...ids].some((id) => ['exec_payload', 'secret_harvesting', 'kubectl_cp'].includes(id as string))).toBe(true);
      // The union of the members' evidence: the audit exec event and the upload's flows are among it.
      const exec = step('exec').evidence.find((e) => e.source === 'k8s_audit');
      expect(incident.evidence.some((e) => e.source === 'k8s_audit' && e.id === exec?.id)).toBe(true);
      expect(incident.evidence.some((e) => e.source === 'aws_vpc_flow' || e.source === 'tetragon')).toBe(true);
      // Its time is within the chain: not before the exec, not after the upload's end plus the settle time.
      expect(incident.time).toBeGreaterThanOrEqual(step('exec').start);
      expect(incident.time).toBeLessThanOrEqual(step('upload').end + 15 * 60_000);
      expect(deadLetter.entries().filter((e) => e.reason === 'exception' || e.reason === 'stream_error')).toEqual([]);
    });
  }

  it('every order gives the same incident (same dedup key and the same member analytics)', () => {
    expect(incidents).toHaveLength(orders.length);
    const keys = new Set(incidents.map((i) => i.dedupKey));
    expect(keys.size).toBe(1);
    const analytics = incidents.map((i) => [...((i.attributes?.['outflow.chain.analytics'] ?? []) as string[])].sort().join(','));
    expect(new Set(analytics).size).toBe(1);
  });

  it('no incident without the collection stage: the same telemetry minus the token and secret reads and the archive', async () => {
    const skip = new Set(['secret_read', 'archive'].flatMap((s) => step(s).evidence.map((e) => e.id)));
    const keep = (events: OutflowEvent[]) =>
      events.filter((e) => {
        if (e.sourceId && skip.has(e.sourceId)) return false;
        // Tetragon records carry no evidence id in the labels: drop the cat and tar processes by their command.
        if (e.kind === 'process_exec' && /\/(cat|tar)$/.test(e.process.executable)) return false;
        if (e.kind === 'file_access') return false;
        return true;
      });
    const saved = { ...decoded };
    try {
      for (const s of Object.keys(decoded) as Source[]) decoded[s] = keep(saved[s]);
      const { alerts } = await run(['aws_vpc_flow', 'tetragon', 'falco', 'aws_cloudtrail', 'k8s_audit'], 2);
      expect(alerts.filter((a) => a.detection.id === 'exfiltration_chain')).toEqual([]);
      // The other analytics still see the exec and the upload.
      expect(alerts.some((a) => a.detection.id === 'pod_exec')).toBe(true);
      expect(alerts.some((a) => a.detection.id === 'egress_volume_anomaly')).toBe(true);
    } finally {
      Object.assign(decoded, saved);
    }
  });
});
