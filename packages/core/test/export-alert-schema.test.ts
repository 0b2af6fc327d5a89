import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  type Alert,
  alertFromFinding,
  alertJsonSchema,
  createPipeline,
  type Exporter,
  JsonSchemaValidator,
  type OutflowEvent,
  type Receiver,
  type ReceiverHost,
  rule,
  T1537,
  toOcsfDetectionFinding,
  validateAlert,
} from '../src/index.js';

const schemaPath = fileURLToPath(new URL('../schema/alert.schema.json', import.meta.url));
const published = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
const validator = new JsonSchemaValidator(published);

const T0 = Date.UTC(2024, 0, 1);

function fullAlert(): Alert {
  const alert = alertFromFinding(
    {
      detection: { id: 'snapshot_shared_external', title: 'EBS snapshot shared with an external account', attack: T1537, version: '1.0.0' },
      severity: 'high',
      time: T0,
      workload: {
        cluster: 'prod-eu',
        namespace: 'payments',
        workloadKind: 'Deployment',
        workloadName: 'ledger',
        pod: 'ledger-7d9f-abcde',
        podUid: '6f1c',
        container: 'app',
        containerId: 'containerd://abc',
        image: 'registry.example/ledger:1.4.2',
        imageDigest: 'sha256:0123',
        node: 'ip-10-0-1-5',
        labels: { app: 'ledger', tier: 'backend' },
        account: '111122223333',
      },
      evidence: [{ source: 'aws_cloudtrail', id: 'e1f2', time: T0 }],
      explanation: {
        summary: 'Snapshot snap-0abc shared with account 999988887777 outside the organization',
        observed: 'createVolumePermission add 999988887777',
        expected: 'no sharing outside the organization',
        score: 4.2,
        threshold: 3,
        baselineAgeMs: 86_400_000,
        samples: 120,
        reasons: ['account not in the organization'],
      },
      dedupKey: 'snap-0abc/999988887777',
      attributes: { 'cloud.account.id': '111122223333', 'destination.port': 443, 'outflow.flags': ['a', 'b'], 'outflow.shared': true },
      tags: ['cloud', 'snapshot'],
      response: { investigate: ['who shared it'], contain: ['revoke the permission'], analyse: [], remediate: ['rotate keys'] },
      related: ['0123456789abcdef0123456789abcdef'],
    },
    T0 + 5,
  );
  return { ...alert, labels: { environment: 'prod' } };
}

describe('alert schema', () => {
  it('the published JSON Schema is the one generated from the zod schema', () => {
    // Compared as data: the file is formatted by biome.
    if (process.env.UPDATE_SCHEMA === '1') writeFileSync(schemaPath, `${JSON.stringify(alertJsonSchema(), null, 2)}\n`);
    expect(JSON.parse(readFileSync(schemaPath, 'utf8'))).toEqual(alertJsonSchema());
  });

  it('accepts a complete alert and a minimal one (JSON round trip)', () => {
    const full = JSON.parse(JSON.stringify(fullAlert()));
    expect(validator.validate(full)).toEqual([]);
    expect(validateAlert(full)).toEqual([]);
    const minimal = JSON.parse(
      JSON.stringify(
        alertFromFinding(
          { detection: { id: 'x', title: 'X', attack: T1537 }, severity: 'low', time: T0, evidence: [], explanation: { summary: 's' }, dedupKey: 'k' },
          T0,
        ),
      ),
    );
    expect(validator.validate(minimal)).toEqual([]);
  });

  it('rejects what is not an alert, with the path of every problem', () => {
    const bad = JSON.parse(JSON.stringify(fullAlert()));
    bad.severity = 'severe';
    bad.severityId = 9;
    bad.detection.attack.technique = 'exfil';
    bad.unknownField = 1;
    delete bad.dedupKey;
    bad.evidence[0].id = '';
    const paths = validator.validate(bad).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['/severity', '/severityId', '/detection/attack/technique', '/unknownField', '/', '/evidence/0/id']));
    expect(validator.validate(bad).find((i) => i.path === '/')?.message).toContain('dedupKey');
    expect(validateAlert(bad).map((i) => i.path)).toEqual(expect.arrayContaining(['severity', 'severityId', 'detection.attack.technique', 'dedupKey']));
  });

  it('validates every alert of a real pipeline run, new and update deliveries', async () => {
    const events: OutflowEvent[] = Array.from({ length: 40 }, (_, i) => ({
      kind: 'network_flow',
      time: T0 + i * 60_000,
      observedTime: T0,
      source: 'test',
      sourceId: `f${i}`,
      src: { address: '10.0.0.1' },
      dst: { address: i % 2 ? '203.0.113.9' : '198.51.100.7', port: 443 },
      direction: 'egress',
      bytes: 1000 * i,
      workload: { cluster: 'c', namespace: 'ns', workloadKind: 'Deployment', workloadName: 'web', labels: { app: 'web' } },
    }));
    const receiver: Receiver = {
      async start(host: ReceiverHost) {
        await host.emit(events);
        host.complete();
      },
      async shutdown() {},
    };
    const seen: Alert[] = [];
    const exporter: Exporter = {
      async export(batch) {
        seen.push(...batch);
      },
      async shutdown() {},
    };
    const detection = rule({
      id: 'egress_volume',
      title: 'Egress volume',
      severity: 'medium',
      kinds: ['network_flow'],
      match: (e) =>
        (e.bytes ?? 0) > 10_000
          ? {
              dedupKey: e.dst.address,
              explanation: { summary: `sent ${e.bytes} bytes`, observed: `${e.bytes} B`, expected: '< 10 kB' },
              attributes: { 'destination.address': e.dst.address, 'destination.port': e.dst.port ?? 0 },
              tags: ['egress'],
            }
          : undefined,
    });
    const pipeline = createPipeline({ receivers: [receiver], detections: [detection], exporters: [exporter], labels: { environment: 'test' } });
    await pipeline.start();
    await pipeline.done;
    await pipeline.shutdown();
    expect(seen.filter((a) => a.status === 'new')).toHaveLength(2);
    expect(seen.filter((a) => a.status === 'update')).toHaveLength(2);
    for (const alert of seen) expect(validator.validate(JSON.parse(JSON.stringify(alert)))).toEqual([]);
  });
});

describe('OCSF Detection Finding mapping', () => {
  it('maps every alert field to class 2004 (update delivery)', () => {
    const a = { ...fullAlert(), status: 'update' as const, count: 3, lastSeen: T0 + 60_000 };
    expect(toOcsfDetectionFinding(a, { version: '0.1.0' })).toEqual({
      class_uid: 2004,
      class_name: 'Detection Finding',
      category_uid: 2,
      category_name: 'Findings',
      activity_id: 2,
      activity_name: 'Update',
      type_uid: 200402,
      type_name: 'Detection Finding: Update',
      severity_id: 4,
      severity: 'High',
      status_id: 1,
      status: 'New',
      time: T0 + 60_000,
      start_time: T0,
      end_time: T0 + 60_000,
      count: 3,
      message: a.explanation.summary,
      finding_info: {
        uid: a.id,
        title: 'EBS snapshot shared with an external account',
        desc: a.explanation.summary,
        analytic: { uid: 'snapshot_shared_external', name: 'EBS snapshot shared with an external account', type_id: 3, type: 'Statistical', version: '1.0.0' },
        attacks: [{ technique: { uid: 'T1537', name: 'Transfer Data to Cloud Account' }, tactic: { uid: 'TA0010', name: 'Exfiltration' } }],
        first_seen_time: T0,
        last_seen_time: T0 + 60_000,
        modified_time: T0 + 5,
        types: ['cloud', 'snapshot'],
        related_events: [{ uid: 'e1f2', product_uid: 'aws_cloudtrail' }],
      },
      evidences: [
        {
          container: { name: 'app', uid: 'containerd://abc', image: { name: 'registry.example/ledger:1.4.2', uid: 'sha256:0123' } },
          dst_endpoint: { port: 443 },
          data: { events: [{ source: 'aws_cloudtrail', id: 'e1f2', time: T0 }] },
        },
      ],
      resources: [
        {
          uid: '6f1c',
          name: 'ledger',
          type: 'Kubernetes Deployment',
          namespace: 'payments',
          labels: ['app=ledger', 'tier=backend'],
          owner: { account: { uid: '111122223333', type_id: 10, type: 'AWS Account' } },
          data: { cluster: 'prod-eu', node: 'ip-10-0-1-5', pod: 'ledger-7d9f-abcde' },
        },
      ],
      remediation: { desc: 'Contain: revoke the permission\nRemediate: rotate keys\nInvestigate: who shared it' },
      metadata: {
        version: '1.3.0',
        product: { name: 'Outflow', vendor_name: 'Outflow', version: '0.1.0' },
        uid: `${a.id}:3`,
        correlation_uid: a.id,
        processed_time: T0 + 5,
        labels: ['environment:prod'],
      },
      unmapped: {
        observed: 'createVolumePermission add 999988887777',
        expected: 'no sharing outside the organization',
        score: 4.2,
        threshold: 3,
        baseline_age_ms: 86_400_000,
        samples: 120,
        reasons: ['account not in the organization'],
        attributes: { 'cloud.account.id': '111122223333', 'destination.port': 443, 'outflow.flags': ['a', 'b'], 'outflow.shared': true },
        dedup_key: 'snap-0abc/999988887777',
        related_alerts: ['0123456789abcdef0123456789abcdef'],
      },
    });
  });

  it('a minimal new alert has the required OCSF fields and nothing empty', () => {
    const a = alertFromFinding(
      { detection: { id: 'x', title: 'X', attack: T1537 }, severity: 'low', time: T0, evidence: [], explanation: { summary: 's' }, dedupKey: 'k' },
      T0 + 1,
    );
    const f = toOcsfDetectionFinding(a);
    expect(f).toMatchObject({
      class_uid: 2004,
      category_uid: 2,
      activity_id: 1,
      type_uid: 200401,
      severity_id: 2,
      time: T0,
      metadata: { version: '1.3.0', uid: a.id },
    });
    expect(f.finding_info).toEqual({
      uid: a.id,
      title: 'X',
      desc: 's',
      analytic: { uid: 'x', name: 'X', type_id: 1, type: 'Rule' },
      attacks: [{ technique: { uid: 'T1537', name: 'Transfer Data to Cloud Account' }, tactic: { uid: 'TA0010', name: 'Exfiltration' } }],
      first_seen_time: T0,
      last_seen_time: T0,
      created_time: T0 + 1,
    });
    expect(Object.keys(f)).not.toContain('evidences');
    expect(Object.keys(f)).not.toContain('resources');
    expect(JSON.stringify(f)).not.toContain('null');
  });
});

describe('JsonSchemaValidator', () => {
  it('refuses schemas with keywords it does not implement', () => {
    expect(() => new JsonSchemaValidator({ type: 'object', dependentRequired: {} })).toThrow(/unsupported JSON Schema keyword "dependentRequired"/);
  });

  it('implements refs, oneOf, patterns and bounds', () => {
    const v = new JsonSchemaValidator({
      $defs: { port: { type: 'integer', minimum: 1, maximum: 65535 } },
      type: 'object',
      properties: {
        port: { $ref: '#/$defs/port' },
        name: { type: 'string', pattern: '^[a-z]+$', maxLength: 5 },
        peer: { oneOf: [{ required: ['a'] }, { required: ['b'] }] },
      },
      additionalProperties: false,
    });
    expect(v.validate({ port: 80, name: 'abc', peer: { a: 1 } })).toEqual([]);
    expect(v.validate({ port: 0, name: 'ABCDEFG', peer: { a: 1, b: 2 }, x: 1 }).map((i) => i.path)).toEqual(['/port', '/name', '/name', '/peer', '/x']);
  });
});
