import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert, OutflowEvent } from '@outflow/core';
import { cloudTrailDecoder } from '@outflow/receiver-aws-cloudtrail';
import { falcoDecoder } from '@outflow/receiver-falco';
import { createVpcFlowDecoder } from '@outflow/receiver-flow-logs';
import { k8sAuditDecoder } from '@outflow/receiver-k8s-audit';
import { tetragonDecoder } from '@outflow/receiver-tetragon';
import { type GeneratedTelemetry, generateScenario, type StepLabel, writeScenario } from '@outflow/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workloadId } from '../../src/analytics/network/common.js';
import type { T1537ConfigInput } from '../../src/index.js';
import { decodeDocument, decodeLines, type Run, runSources } from '../network/helpers.js';

/**
 * The whole t1537 preset over the scenario generator's output: six hours of a
 * cluster's telemetry with every attack scenario and every benign one, written
 * as the sources deliver it (audit JSON lines, CloudTrail delivery files, VPC
 * flow logs, Falco and Tetragon JSON lines), decoded by the receivers'
 * decoders and fed to a pipeline with one receiver per source, configured with
 * the scenario's own preset configuration.
 */

const ATTACKS = ['exfil_chain', 'slow_exfil', 'exfil_netcat', 'exfil_foreign_bucket', 'kubectl_cp', 'cloud_shares'];
const BENIGN = ['web_services', 'batch_jobs', 'nightly_backup', 'ci_pulls', 'admin_ops'];
/** How far an alert's time may be from its step (windowed analytics report at the end of their window; correlations after their members). */
const SLACK = 20 * 60_000;

let dir: string;
let telemetry: GeneratedTelemetry;
let sources: OutflowEvent[][];

beforeAll(() => {
  telemetry = generateScenario({ scenarios: [...BENIGN, ...ATTACKS], seed: 1 });
  dir = mkdtempSync(join(tmpdir(), 'outflow-scenario-'));
  const files = writeScenario(dir, telemetry);
  sources = [
    decodeLines(join(files.k8s_audit, 'audit.jsonl'), k8sAuditDecoder),
    readdirSync(files.aws_cloudtrail)
      .sort()
      .flatMap((f) => decodeDocument(join(files.aws_cloudtrail, f), cloudTrailDecoder)),
    decodeLines(join(files.aws_vpc_flow, 'flows.log'), createVpcFlowDecoder()),
    decodeLines(join(files.falco, 'falco.jsonl'), falcoDecoder),
    decodeLines(join(files.tetragon, 'tetragon.jsonl'), tetragonDecoder),
  ];
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `cluster/namespace/Kind/name` (labels) → the analytics' workload id `cluster/namespace/name`. */
function labelWorkload(key: string): string {
  const [cluster, ns, , ...name] = key.split('/');
  return `${cluster}/${ns}/${name.join('/')}`;
}

const ACTOR_ATTRIBUTES = ['user.name', 'user.id', 'aws.consumer.account_id', 'cloud.account.id'];

function actorsOf(a: Alert): string[] {
  const out: string[] = [];
  for (const k of ACTOR_ATTRIBUTES) {
    const v = a.attributes?.[k];
    if (typeof v === 'string') out.push(...v.split(','));
  }
  return out;
}

/** Whether an alert is about a step: it cites one of the step's records, or it is about the step's workload or actor at the step's time. */
function catches(a: Alert, step: StepLabel): boolean {
  const evidence = new Set(step.evidence.map((e) => `${e.source}\u0000${e.id}`));
  if (a.evidence.some((e) => evidence.has(`${e.source}\u0000${e.id}`))) return true;
  const near = [a.time, a.firstSeen, a.lastSeen].some((t) => t >= step.start - SLACK && t <= step.end + SLACK);
  if (!near) return false;
  const cluster = telemetry.meta.world.cluster;
  if (step.workload && workloadId(a.workload, cluster) === labelWorkload(step.workload)) return true;
  if (step.actor && actorsOf(a).includes(step.actor)) return true;
  return false;
}

function describeAlert(a: Alert): string {
  return `${a.detection.id} ${new Date(a.time).toISOString()} ${workloadId(a.workload, telemetry.meta.world.cluster) ?? actorsOf(a).join(',')}: ${a.explanation.summary}`;
}

describe('the t1537 preset over the generated scenarios', () => {
  let run: Run;

  beforeAll(async () => {
    run = await runSources(sources, telemetry.presetConfig as T1537ConfigInput);
  }, 120_000);

  it('decodes every record of every source', () => {
    const counts = telemetry.meta.counts;
    expect(sources.map((s) => s.length)).toEqual([counts.k8s_audit, counts.aws_cloudtrail, counts.aws_vpc_flow, counts.falco, counts.tetragon]);
  });

  it('catches every attack step with at least one alert', () => {
    const attacks = telemetry.labels.filter((l) => l.kind === 'attack');
    expect(attacks.length).toBeGreaterThanOrEqual(20);
    const missed = attacks.filter((step) => !run.alerts.some((a) => catches(a, step)));
    expect(missed.map((s) => `${s.scenario}/${s.step}`)).toEqual([]);
  });

  it('every alert is about an attack step: nothing fires on the benign activity (backup, batch jobs, CI, admins, web traffic)', () => {
    const attacks = telemetry.labels.filter((l) => l.kind === 'attack');
    const unexplained = run.alerts.filter((a) => !attacks.some((step) => catches(a, step)));
    expect(unexplained.map(describeAlert)).toEqual([]);
    const benign = telemetry.labels.filter((l) => l.kind === 'benign');
    const citingBenign = run.alerts.filter((a) =>
      benign.some((step) => step.evidence.some((e) => a.evidence.some((x) => x.source === e.source && x.id === e.id))),
    );
    expect(citingBenign.map(describeAlert)).toEqual([]);
    const onBenignWorkloads = run.alerts.filter((a) =>
      /\/(nightly-backup|ci-runner|frontend|checkout|metrics-agent|coredns)$/.test(workloadId(a.workload, telemetry.meta.world.cluster) ?? ''),
    );
    expect(onBenignWorkloads.map(describeAlert)).toEqual([]);
    expect(run.alerts.filter((a) => actorsOf(a).includes('maria.sre@acme.example')).map(describeAlert)).toEqual([]);
  });

  it('the network analytics and the chain fire on the steps they are expected on', () => {
    const expected: [string, string, string][] = [
      ['slow_exfil', 'trickle', 'egress_volume_anomaly'],
      ['slow_exfil', 'trickle', 'new_external_destination'],
      ['exfil_chain', 'upload', 'egress_volume_anomaly'],
      ['exfil_chain', 'upload', 'new_external_destination'],
      ['exfil_chain', 'upload', 'exfiltration_chain'],
      ['exfil_netcat', 'upload', 'egress_volume_anomaly'],
      ['exfil_netcat', 'upload', 'exfiltration_chain'],
      ['exfil_foreign_bucket', 'foreign_bucket_upload', 'cloud_storage_foreign_transfer'],
    ];
    const missing = expected.filter(([scenario, name, analytic]) => {
      const step = telemetry.labels.find((l) => l.scenario === scenario && l.step === name) as StepLabel;
      return !run.alerts.some((a) => a.detection.id === analytic && catches(a, step));
    });
    expect(missing).toEqual([]);
  });

  it('one incident per attacked workload: the chain correlation does not repeat itself', () => {
    const incidents = run.of('exfiltration_chain');
    const workloads = incidents.map((a) => workloadId(a.workload, telemetry.meta.world.cluster));
    expect(new Set(workloads).size).toBe(workloads.length);
    expect(workloads.sort()).toEqual(
      ['exfil_chain', 'exfil_netcat', 'slow_exfil']
        .map((s) =>
          labelWorkload(telemetry.labels.find((l) => (l.scenario === s && l.step === 'upload') || (l.scenario === s && l.step === 'exec'))?.workload as string),
        )
        .sort(),
    );
    for (const incident of incidents) {
      expect(incident.severity === 'high' || incident.severity === 'critical').toBe(true);
      const ids = new Set(run.alerts.map((a) => a.id));
      expect(incident.related?.every((id) => ids.has(id))).toBe(true);
    }
  });

  it('no exception, stream error or late event in any analytic', () => {
    const bad = run.deadLetter.entries().filter((e) => e.stage !== 'decode');
    expect(bad.map((e) => `${e.component}: ${e.reason} ${e.message ?? ''}`)).toEqual([]);
  });
});

describe('the nightly backup without its configured exception', () => {
  it('the network analytics learn it or know the bucket is ours: none of them fires on it', async () => {
    const t = generateScenario({ scenarios: ['web_services', 'nightly_backup', 'batch_jobs'], seed: 3 });
    const d = mkdtempSync(join(tmpdir(), 'outflow-backup-'));
    try {
      const files = writeScenario(d, t);
      const config = { ...(t.presetConfig as T1537ConfigInput), exceptions: [] };
      const run = await runSources(
        [
          decodeLines(join(files.k8s_audit, 'audit.jsonl'), k8sAuditDecoder),
          readdirSync(files.aws_cloudtrail).flatMap((f) => decodeDocument(join(files.aws_cloudtrail, f), cloudTrailDecoder)),
          decodeLines(join(files.aws_vpc_flow, 'flows.log'), createVpcFlowDecoder()),
          decodeLines(join(files.tetragon, 'tetragon.jsonl'), tetragonDecoder),
        ],
        config,
      );
      const mine = ['egress_volume_anomaly', 'new_external_destination', 'cloud_storage_foreign_transfer', 'exfiltration_chain'];
      expect(run.alerts.filter((a) => mine.includes(a.detection.id)).map((a) => a.explanation.summary)).toEqual([]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }, 60_000);
});
