import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Alert, decodeAll, type OutflowEvent } from '@outflow/core';
import { cloudTrailDecoder } from '@outflow/receiver-aws-cloudtrail';
import { falcoDecoder } from '@outflow/receiver-falco';
import { createVpcFlowDecoder } from '@outflow/receiver-flow-logs';
import { k8sAuditDecoder } from '@outflow/receiver-k8s-audit';
import { tetragonDecoder } from '@outflow/receiver-tetragon';
import { DESTINATIONS, type GeneratedTelemetry, generateScenario, type StepLabel, writeScenario } from '@outflow/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANALYTICS, type T1537ConfigInput } from '../../src/index.js';
import { type PresetRun, runPreset } from '../helpers.js';
import { K8S_ANALYTICS } from './helpers.js';

const ATTACKS = ['exfil_chain', 'kubectl_cp', 'slow_exfil', 'exfil_netcat', 'exfil_foreign_bucket'];
const BENIGN = ['web_services', 'batch_jobs', 'nightly_backup', 'ci_pulls', 'admin_ops'];

type Decoder = Parameters<typeof decodeAll>[0];

/** Decode every file the generator wrote with the receivers' decoders; fail on any decode error. */
function decodeScenario(dir: string, t: GeneratedTelemetry): OutflowEvent[] {
  const files = writeScenario(dir, t);
  const events: OutflowEvent[] = [];
  const read = (path: string, decoder: Decoder, options: { lines: boolean; firstLine?: string }) => {
    const text = readFileSync(path, 'utf8');
    const chunks = options.lines ? text.split('\n') : [text];
    chunks.forEach((chunk, i) => {
      if (!chunk.trim() || (options.firstLine !== undefined && i === 0)) return;
      const { events: decoded, errors } = decodeAll(decoder, chunk, {
        location: path,
        line: i + 1,
        ...(options.firstLine ? { firstLine: options.firstLine } : {}),
      });
      if (errors.length > 0) throw new Error(`${path}:${i + 1}: ${errors[0]?.reason} ${errors[0]?.message}`);
      events.push(...(decoded as OutflowEvent[]));
    });
  };
  read(join(files.k8s_audit, 'audit.jsonl'), k8sAuditDecoder, { lines: true });
  const vpc = join(files.aws_vpc_flow, 'flows.log');
  read(vpc, createVpcFlowDecoder(), { lines: true, firstLine: readFileSync(vpc, 'utf8').split('\n')[0] as string });
  read(join(files.falco, 'falco.jsonl'), falcoDecoder, { lines: true });
  read(join(files.tetragon, 'tetragon.jsonl'), tetragonDecoder, { lines: true });
  for (const f of readdirSync(files.aws_cloudtrail).sort()) read(join(files.aws_cloudtrail, f), cloudTrailDecoder, { lines: false });
  return events.sort((a, b) => a.time - b.time);
}

/**
 * The preset configuration for the generated organisation, written here (not
 * taken from the generator) so that no exception covers the nightly backup:
 * the analytics' own defaults must keep it quiet.
 */
function configFor(t: GeneratedTelemetry): T1537ConfigInput {
  const w = t.meta.world;
  return {
    organization: { accounts: [w.account], trustedAccounts: [w.partnerAccount], vpcIds: [w.vpcId], cidrs: ['10.20.0.0/16'] },
    cluster: { name: w.cluster, podCidrs: [w.podCidr], serviceCidrs: [w.serviceCidr] },
    destinations: {
      allow: [DESTINATIONS.paymentApi.address, DESTINATIONS.metricsSaas.address],
      cloudRanges: {
        prefixes: [
          { prefix: DESTINATIONS.s3.prefix, region: w.region, service: 'S3' },
          { prefix: '52.95.110.0/24', region: w.region, service: 'AMAZON' },
        ],
      },
    },
    images: { trustedRegistries: [w.registry] },
  };
}

/**
 * Whether an alert is about the workload a step names (`cluster/namespace/Kind/name`): same namespace, and the
 * pod or workload name is the step's name or one of its pods (`<name>-...`). Cluster and owner kind are left
 * out on purpose: sources fill them differently (Tetragon has no cluster name; a ReplicaSet without its
 * pod-template-hash label stays a ReplicaSet), which is enrichment's business, not the analytics'.
 */
function aboutWorkload(a: Alert, key: string): boolean {
  const [, namespace, , name] = key.split('/');
  const w = a.workload;
  if (!w || w.namespace !== namespace || !name) return false;
  return w.workloadName === name || w.pod === name || (w.pod?.startsWith(`${name}-`) ?? false) || (w.workloadName?.startsWith(`${name}-`) ?? false);
}

/** An alert belongs to a step when it cites one of the step's records, or falls in its time span on its workload. */
function onStep(a: Alert, step: StepLabel): boolean {
  const ids = new Set(step.evidence.map((e) => `${e.source}|${e.id}`));
  if (a.evidence.some((e) => ids.has(`${e.source}|${e.id}`))) return true;
  const overlaps = a.firstSeen <= step.end && a.lastSeen >= step.start;
  if (!overlaps) return false;
  if (!step.workload) return true;
  return aboutWorkload(a, step.workload);
}

describe('part-2 analytics over the scenario generator (labelled attack and benign steps)', () => {
  let dir: string;
  let t: GeneratedTelemetry;
  let run: PresetRun;
  let mine: Alert[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'outflow-k8s-scenario-'));
    t = generateScenario({ seed: 3, hours: 4, scenarios: [...BENIGN, ...ATTACKS], attackAt: 0.6 });
    const events = decodeScenario(dir, t);
    run = await runPreset(events, configFor(t), { batchSize: 500 });
    mine = run.alerts.filter((a) => (K8S_ANALYTICS as readonly string[]).includes(a.detection.id));
  }, 60_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('decodes every source and processes it without errors (enrichers and part-2 analytics)', () => {
    expect(Object.values(t.meta.counts).every((n) => n > 0)).toBe(true);
    const others = new Set(ANALYTICS.map((a) => a.id).filter((id) => !(K8S_ANALYTICS as readonly string[]).includes(id)));
    expect(run.deadLetter.entries().filter((e) => !others.has(e.component))).toEqual([]);
  });

  it('every attack step that expects a part-2 analytic gets an alert from it', () => {
    const missing: string[] = [];
    const steps = t.labels.filter((l) => l.kind === 'attack' && ATTACKS.includes(l.scenario));
    expect(new Set(steps.map((s) => s.scenario))).toEqual(new Set(ATTACKS));
    for (const step of steps) {
      for (const id of step.expected.filter((e) => (K8S_ANALYTICS as readonly string[]).includes(e))) {
        if (!mine.some((a) => a.detection.id === id && onStep(a, step))) missing.push(`${step.scenario}/${step.step}: ${id}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('no part-2 analytic fires on a benign step (the nightly backup included)', () => {
    const benign = t.labels.filter((l) => l.kind === 'benign');
    expect(new Set(benign.map((s) => s.scenario))).toEqual(new Set(BENIGN));
    const noisy: string[] = [];
    for (const step of benign)
      for (const a of mine) if (onStep(a, step) && !attackWorkload(a)) noisy.push(`${step.scenario}/${step.step}: ${a.detection.id} ${a.explanation.summary}`);
    expect(noisy).toEqual([]);
  });

  it('every part-2 alert is explained by an attack step (no stray alerts)', () => {
    const attackSteps = t.labels.filter((l) => l.kind === 'attack');
    const stray = mine.filter((a) => !attackSteps.some((s) => onStep(a, s)));
    expect(stray.map((a) => `${a.detection.id}: ${a.explanation.summary}`)).toEqual([]);
  });

  it('the nightly backup (aws s3 sync to our own bucket) is suppressed by exec_payload’s default exception, not missed', () => {
    const backup = run.suppressed.filter(
      (s) => s.finding.detection.id === 'exec_payload' && s.finding.attributes?.['exec.payload.bucket'] === t.meta.world.backupBucket,
    );
    expect(backup).toHaveLength(1);
    expect(backup[0]?.finding.attributes?.['exec.payload.bucket.ownership']).toBe('ours');
    expect(backup[0]?.reason).toMatch(/cloud-copy-to-own-bucket/);
  });

  it('the foreign-bucket copy waits for the owner and is judged unknown (medium), not ours', () => {
    const copy = mine.find((a) => a.detection.id === 'exec_payload' && String(a.attributes?.['exec.payload.bucket'] ?? '').startsWith('exfil-drop-'));
    expect(copy?.attributes?.['exec.payload.bucket.ownership']).toBe('unknown');
    expect(copy?.severity).toBe('medium');
  });

  it('the slow exfiltration is confirmed by the flows to the destination the exec named', () => {
    const contacted = mine.filter((a) => a.status === 'new' && a.attributes?.['exec.payload.contacted'] === true);
    expect(contacted.map((a) => a.attributes?.['destination.address']).sort()).toEqual(
      [DESTINATIONS.attacker.address, DESTINATIONS.attackerAlt.address, DESTINATIONS.attackerAlt.address].sort(),
    );
    for (const a of contacted) expect(a.evidence).toHaveLength(2);
  });

  /** Alerts about the attack pods themselves (an attacker's pod is not benign even during a benign step's time span). */
  function attackWorkload(a: Alert): boolean {
    return t.labels.some((l) => l.kind === 'attack' && l.workload !== undefined && aboutWorkload(a, l.workload));
  }
});
