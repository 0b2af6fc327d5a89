import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CloudApiCallEvent, configJsonSchema, createPipeline, type Detection, type OutflowEvent, silentLogger } from '@outflow/core';
import { cloudCall, createTestContext, flowEvent, MemoryReceiver, processExec } from '@outflow/testkit';
import { Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ANALYTICS, createAnalytic, type T1537Bundle, t1537 } from '../src/index.js';
import { cloudTrail, fixedClock, OURS, OURS2, runPreset, TESTDATA } from './helpers.js';

const DOCS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'detections');
const ADS_SECTIONS = [
  'Goal',
  'Categorization',
  'Strategy abstract',
  'Technical context',
  'Blind spots and assumptions',
  'False positives',
  'Validation',
  'Priority',
  'Response',
];

describe('t1537 preset', () => {
  it('is a well-formed detection component', () => {
    expect(t1537.type).toBe('t1537');
    expect(t1537.kind).toBe('detection');
    expect(['development', 'alpha', 'beta', 'stable']).toContain(t1537.stability);
    expect(t1537.description.length).toBeGreaterThan(20);
    expect(t1537({ organization: { accounts: [OURS] } })).toMatchObject({ factory: t1537, config: { organization: { accounts: [OURS] } } });
    const schema = configJsonSchema(t1537) as { properties: Record<string, { properties?: Record<string, unknown> }> };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['organization', 'cluster', 'destinations', 'images', 'exceptions', 'analytics', 'self']),
    );
    expect(Object.keys(schema.properties.analytics?.properties ?? {})).toEqual(ANALYTICS.map((a) => a.id));
  });

  it('exports the analytics, each with the metadata an ADS page needs', () => {
    expect(t1537.analytics).toBe(ANALYTICS);
    // Part 1's analytics, in this order (other parts add theirs in between; the story stays after the consumption analytic).
    const PART1 = [
      'ebs_snapshot_shared',
      'ami_shared',
      'rds_snapshot_shared',
      'shared_snapshot_consumed',
      's3_bucket_policy_external',
      's3_replication_external',
      's3_copy_external',
      'export_task_started',
      'resource_policy_opened',
      'snapshot_share_story',
    ];
    const ids = ANALYTICS.map((a) => a.id);
    expect(ids.filter((id) => PART1.includes(id))).toEqual(PART1);
    expect(new Set(ids).size).toBe(ids.length);
    for (const a of ANALYTICS) {
      expect(a.id).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(a.attack.technique).toMatch(/^T\d{4}(\.\d{3})?$/);
      expect(a.dataSources.length).toBeGreaterThan(0);
      expect(a.dedupKeyDescription.length).toBeGreaterThan(0);
      for (const phase of ['investigate', 'contain', 'analyse', 'remediate'] as const) expect(a.response[phase]?.length, `${a.id} ${phase}`).toBeGreaterThan(0);
    }
  });

  it('every analytic has an ADS page with all sections, listed in docs/detections/README.md', () => {
    const index = readFileSync(join(DOCS, 'README.md'), 'utf8');
    for (const a of ANALYTICS) {
      const page = join(DOCS, `${a.id}.md`);
      expect(existsSync(page), page).toBe(true);
      const text = readFileSync(page, 'utf8');
      for (const s of ADS_SECTIONS) expect(text, `${a.id}: ${s}`).toMatch(new RegExp(`^## ${s}`, 'm'));
      expect(index).toContain(`[${a.id}](${a.id}.md)`);
    }
  });

  it('creates a bundle: enrichers in order, every enabled analytic, exceptions and windows', () => {
    const ctx = createTestContext({ name: 't1537', kind: 'detection', clock: fixedClock });
    const bundle = t1537.create(ctx, t1537.validate({ analytics: { ami_shared: { enabled: false } } })) as T1537Bundle;
    expect(bundle.processors?.map((p) => p.constructor.name)).toEqual([
      'WorkloadIdentityProcessor',
      'ImageTrustProcessor',
      'DestinationClassProcessor',
      'CloudResourceLearner',
    ]);
    expect(bundle.detections.map((d) => d.id)).not.toContain('ami_shared');
    expect(bundle.detections).toHaveLength(ANALYTICS.length - 1);
    expect(bundle.suppressors?.map((s) => s.name)).toEqual(['t1537.exceptions', 't1537.suppressions']);
    // Default exceptions of a disabled analytic are not loaded.
    const ids = bundle.exceptionReport().map((e) => e.id);
    expect(ids).toEqual(expect.arrayContaining(['ebs_snapshot_shared/aws-backup-cross-account-copy', 'rds_snapshot_shared/aws-backup-cross-account-copy']));
    expect(ids.filter((id) => id.startsWith('ami_shared/'))).toEqual([]);
    const withAmi = (t1537.create(ctx, t1537.validate({})) as T1537Bundle).exceptionReport().map((e) => e.id);
    expect(withAmi).toContain('ami_shared/image-builder-distribution');
  });

  it('a configured severity is the base the analytic raises or lowers', async () => {
    const events = cloudTrail('cloudtrail/snapshot-story.json');
    const run = await runPreset(events, { organization: { accounts: [OURS, OURS2] }, analytics: { ebs_snapshot_shared: { severity: 'medium' } } });
    expect(run.byDetection('ebs_snapshot_shared').map((a) => a.severity)).toEqual(['medium', 'high']); // foreign: base; public: base + 1
  });

  it('analytics run one by one with createAnalytic', async () => {
    const detection = createAnalytic('rds_snapshot_shared');
    const alerts: string[] = [];
    const pipeline = createPipeline({
      receivers: [new MemoryReceiver(cloudTrail('stratus/aws.exfiltration.rds-share-snapshot.json'))],
      detections: [detection],
      logger: silentLogger,
    });
    pipeline.alerts$.subscribe((a) => alerts.push(`${a.detection.id}:${a.severity}`));
    await pipeline.start();
    await pipeline.done;
    await pipeline.shutdown();
    expect(alerts).toEqual(['rds_snapshot_shared:high']);
    expect(() => createAnalytic('nope')).toThrow(/unknown analytic "nope"/);
  });

  it('enriches events before any detection sees them (inventory, destination class with ip-ranges.json, image trust)', async () => {
    const seen: OutflowEvent[] = [];
    const spy: Detection = {
      id: 'spy',
      title: 'spy',
      connect: (events$) =>
        new Observable((sub) => {
          const s = events$.subscribe({ next: (e) => seen.push(e), complete: () => sub.complete() });
          return () => s.unsubscribe();
        }),
    };
    const pipeline = createPipeline({
      receivers: [
        new MemoryReceiver([
          flowEvent({ time: Date.parse('2024-02-10T00:00:00Z'), src: { address: '10.42.1.5', port: 40000 }, dst: { address: '52.217.10.1', port: 443 } }),
          processExec({ time: Date.parse('2024-02-20T00:00:00Z'), workload: { containerId: 'containerd://f1b2c3d4e5f6ffff' } }),
        ]),
      ],
      detections: [
        t1537({
          cluster: { name: 'prod-eu', podCidrs: ['10.42.0.0/16'] },
          inventory: join(TESTDATA, 'k8s/inventory.json'),
          destinations: { cloudRanges: join(TESTDATA, 'aws-ip-ranges.excerpt.json') },
          images: { trustedRegistries: ['registry.example.com/shop'] },
        }),
        spy,
      ],
      logger: silentLogger,
    });
    await pipeline.start();
    await pipeline.done;
    await pipeline.shutdown();
    const [flow, exec] = seen;
    expect(flow?.workload).toMatchObject({ cluster: 'prod-eu', pod: 'web-1', workloadName: 'web' });
    expect(flow?.attributes).toMatchObject({
      'destination.class': 'cloud',
      'destination.cloud.service': 'S3',
      'source.class': 'pod',
      'container.image.trusted': true,
    });
    expect(exec?.workload).toMatchObject({ pod: 'etl-2', image: 'docker.io/library/python:3.12' });
    expect(exec?.attributes?.['container.image.trusted']).toBe(false);
  });

  it('fails start with a clear error when the inventory or the ip-ranges file cannot be read', async () => {
    for (const config of [{ inventory: '/nonexistent/inventory.json' }, { destinations: { cloudRanges: '/nonexistent/ip-ranges.json' } }]) {
      const pipeline = createPipeline({ receivers: [new MemoryReceiver([])], detections: t1537(config), logger: silentLogger });
      await expect(pipeline.start()).rejects.toThrow(/ENOENT/);
    }
  });

  it('bad input never throws: odd request shapes reach every analytic without exceptions or lost events', async () => {
    const shapes: unknown[] = [
      null,
      'string',
      42,
      [],
      [1, 2],
      { createVolumePermission: 'x' },
      { createVolumePermission: { add: { items: 'x' } } },
      { bucketPolicy: { Statement: 'x' } },
      { bucketPolicy: 'not json', policyText: 'not json' },
    ];
    const operations = [
      'ModifySnapshotAttribute',
      'ModifyImageAttribute',
      'ModifyDBSnapshotAttribute',
      'SharedSnapshotCopyInitiated',
      'PutBucketPolicy',
      'PutBucketReplication',
      'CopyObject',
      'ExportTableToPointInTime',
      'SetRepositoryPolicy',
      'AddLayerVersionPermission20181031',
      'ResetSnapshotAttribute',
    ];
    const events: CloudApiCallEvent[] = [];
    let i = 0;
    for (const operation of operations)
      for (const request of shapes)
        events.push(cloudCall({ time: Date.parse('2024-03-01T00:00:00Z') + i++ * 1000, operation, request, resources: [{ type: 'AWS::S3::Bucket' }] }));
    const run = await runPreset(events);
    expect(run.deadLetter.entries().filter((e) => e.reason === 'exception' || e.reason === 'stream_error')).toEqual([]);
    expect(run.alerts).toEqual([]);
    // Unusable requests of calls that matter are dead-lettered with a reason, not dropped silently.
    const reasons = new Set(run.deadLetter.entries().map((e) => `${e.component}:${e.reason}`));
    expect(reasons).toEqual(
      new Set(['export_task_started:missing_field', 's3_bucket_policy_external:invalid_policy', 'resource_policy_opened:invalid_policy']),
    );
  });
});
