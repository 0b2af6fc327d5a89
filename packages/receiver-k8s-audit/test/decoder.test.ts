import { gzipSync } from 'node:zlib';
import { decodeAll, type K8sAuditEvent } from '@outflow/core';
import { parseTimestamp, splitConcatenated } from '@outflow/core/codec';
import { decodeAs, goldenOf } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { clusterFromLogGroup, k8sAuditDecoder, objectRefFromResourceName, StageFilterDecoder } from '../src/index.js';
import { fixture, OBSERVED } from './helpers.js';

const T = '2024-05-02T10:15:30.123456Z';
const T_MS = Date.UTC(2024, 4, 2, 10, 15, 30, 123);

function event(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: 'a1',
    stage: 'ResponseComplete',
    verb: 'get',
    user: { username: 'alice' },
    sourceIPs: ['10.0.0.1'],
    requestReceivedTimestamp: T,
    ...fields,
  };
}

function decodeOne(record: unknown, meta: { location?: string; line?: number } = {}): K8sAuditEvent {
  const { events, errors } = decodeAll(k8sAuditDecoder, JSON.stringify(record), { observedTime: OBSERVED, ...meta });
  expect(errors).toEqual([]);
  expect(events).toHaveLength(1);
  return events[0] as K8sAuditEvent;
}

describe('parseTimestamp', () => {
  it('reads RFC 3339 with nanoseconds, offsets, and the space-separated UTC form some shippers write', () => {
    expect(parseTimestamp(T)).toBe(T_MS);
    expect(parseTimestamp('2024-05-02T10:15:30Z')).toBe(Date.UTC(2024, 4, 2, 10, 15, 30));
    expect(parseTimestamp('2024-05-02T12:15:30.5+02:00')).toBe(Date.UTC(2024, 4, 2, 10, 15, 30, 500));
    expect(parseTimestamp('2024-05-02T05:45:30-04:30')).toBe(Date.UTC(2024, 4, 2, 10, 15, 30));
    expect(parseTimestamp('2022-11-29 00:09:04.38')).toBe(Date.UTC(2022, 10, 29, 0, 9, 4, 380));
    expect(parseTimestamp('2025-08-26 17:40:49.320496000')).toBe(Date.UTC(2025, 7, 26, 17, 40, 49, 320));
  });

  it('rejects what is not a timestamp', () => {
    for (const bad of [
      '',
      'yesterday',
      '2024-13-01T00:00:00Z',
      '2024-05-02T25:00:00Z',
      '2024-05-02T10:15:30.Z',
      '2024-05-02T10:15:30+0200',
      1714644930,
      null,
      {},
    ]) {
      expect(parseTimestamp(bad)).toBeUndefined();
    }
  });
});

describe('k8s_audit decoder: exec and attach', () => {
  it('decodes repeated command= parameters in order, URL-decoded (%XX and +), with container, tty and stdin', () => {
    const e = decodeOne(
      event({
        verb: 'create',
        requestURI:
          '/api/v1/namespaces/ns/pods/p/exec?command=sh&command=-c&command=echo+hi+%3E+%2Ftmp%2Fx&command=100%25&command=bad%ZZ&container=app&stdin=true&tty=1&stdout=true',
        objectRef: { resource: 'pods', subresource: 'exec', namespace: 'ns', name: 'p', apiVersion: 'v1' },
      }),
    );
    expect(e.command).toEqual(['sh', '-c', 'echo hi > /tmp/x', '100%', 'bad%ZZ']);
    expect(e.execContainer).toBe('app');
    expect(e.stdin).toBe(true);
    expect(e.tty).toBe(true);
    expect(e.workload).toEqual({ namespace: 'ns', pod: 'p' });
  });

  it('takes the command from PodExecOptions when the URI has none, and prefers the URI when both have one', () => {
    const fromObject = decodeOne(
      event({
        verb: 'create',
        requestURI: '/api/v1/namespaces/ns/pods/p/exec',
        objectRef: { resource: 'pods', subresource: 'exec', namespace: 'ns', name: 'p' },
        requestObject: { kind: 'PodExecOptions', command: ['cat', '/etc/shadow'], container: 'c', stdin: false, tty: false },
      }),
    );
    expect(fromObject.command).toEqual(['cat', '/etc/shadow']);
    expect(fromObject).toMatchObject({ execContainer: 'c', stdin: false, tty: false });
    const both = decodeOne(
      event({
        verb: 'create',
        requestURI: '/api/v1/namespaces/ns/pods/p/exec?command=ls',
        objectRef: { resource: 'pods', subresource: 'exec', namespace: 'ns', name: 'p' },
        requestObject: { command: ['cat', '/etc/shadow'] },
      }),
    );
    expect(both.command).toEqual(['ls']);
  });

  it('gives attach its container and flags but no command; other subresources get neither', () => {
    const attach = decodeOne(
      event({
        verb: 'create',
        requestURI: '/api/v1/namespaces/ns/pods/p/attach?container=app&stdin=true&tty=false&command=ignored',
        objectRef: { resource: 'pods', subresource: 'attach', namespace: 'ns', name: 'p' },
      }),
    );
    expect(attach.command).toBeUndefined();
    expect(attach).toMatchObject({ execContainer: 'app', stdin: true, tty: false });
    const log = decodeOne(
      event({ requestURI: '/api/v1/namespaces/ns/pods/p/log?container=app', objectRef: { resource: 'pods', subresource: 'log', namespace: 'ns', name: 'p' } }),
    );
    expect(log.execContainer).toBeUndefined();
    expect(log.workload).toEqual({ namespace: 'ns', pod: 'p' });
  });
});

describe('k8s_audit decoder: fields', () => {
  it('takes the decision from the annotation before the response code', () => {
    expect(decodeOne(event({ responseStatus: { code: 403 }, annotations: { 'authorization.k8s.io/decision': 'allow' } })).decision).toBe('allow');
    expect(decodeOne(event({ responseStatus: { code: 403 } })).decision).toBe('forbid');
    expect(decodeOne(event({ responseStatus: { code: 401 } })).decision).toBe('forbid');
    expect(decodeOne(event({ responseStatus: { code: 404 } })).decision).toBe('allow');
    expect(decodeOne(event({ stage: 'RequestReceived' })).decision).toBeUndefined();
  });

  it('falls back from requestReceivedTimestamp to stageTimestamp, then the v1beta1 timestamp', () => {
    expect(decodeOne(event({ requestReceivedTimestamp: undefined, stageTimestamp: '2024-05-02T10:15:31Z' })).time).toBe(T_MS + 877);
    expect(decodeOne(event({ apiVersion: 'audit.k8s.io/v1beta1', requestReceivedTimestamp: undefined, timestamp: '2019-02-04T21:34:11Z' })).time).toBe(
      Date.UTC(2019, 1, 4, 21, 34, 11),
    );
    expect(decodeOne(event({ requestReceivedTimestamp: 'not a time', stageTimestamp: T })).time).toBe(T_MS);
  });

  it('maps a service-account user to namespace and name attributes, and its namespace to the workload when no pod is targeted', () => {
    const e = decodeOne(event({ user: { username: 'system:serviceaccount:payments:api', uid: 'u1', groups: ['system:serviceaccounts'] } }));
    expect(e.user).toEqual({ username: 'system:serviceaccount:payments:api', uid: 'u1', groups: ['system:serviceaccounts'] });
    expect(e.attributes).toEqual({ 'k8s.namespace.name': 'payments', 'k8s.serviceaccount.name': 'api' });
    expect(e.workload).toEqual({ namespace: 'payments' });
    const onPod = decodeOne(
      event({ user: { username: 'system:serviceaccount:payments:api' }, objectRef: { resource: 'pods', namespace: 'other', name: 'p' } }),
    );
    expect(onPod.workload).toEqual({ namespace: 'other', pod: 'p' });
    expect(onPod.attributes?.['k8s.namespace.name']).toBe('payments');
  });

  it('keeps every stage, level, impersonation, sourceIPs in order, and the record as raw', () => {
    const record = event({ stage: 'Panic', impersonatedUser: { username: 'root', groups: ['system:masters'] }, sourceIPs: ['1.1.1.1', '10.0.0.9'] });
    const e = decodeOne(record);
    expect(e).toMatchObject({
      stage: 'Panic',
      level: 'Metadata',
      impersonatedUser: { username: 'root', groups: ['system:masters'] },
      sourceIps: ['1.1.1.1', '10.0.0.9'],
    });
    expect(e.raw).toEqual(record);
    expect(e.observedTime).toBe(OBSERVED);
    expect(e.source).toBe('k8s_audit');
  });

  it('sets location to path:line and derives a deterministic id when auditID is missing', () => {
    const record = event({ auditID: undefined });
    const a = decodeOne(record, { location: '/var/log/audit.log', line: 7 });
    const b = decodeOne(record, { location: '/var/log/audit.log', line: 7 });
    const c = decodeOne(record, { location: '/var/log/audit.log', line: 8 });
    expect(a.location).toBe('/var/log/audit.log:7');
    expect(a.sourceId).toMatch(/^[0-9a-f]{32}$/);
    expect(a.sourceId).toBe(b.sourceId);
    expect(a.auditId).toBe(a.sourceId);
    expect(c.sourceId).not.toBe(a.sourceId);
  });
});

describe('k8s_audit decoder: wrappers', () => {
  it('reads the cluster from the EKS log group and the timestamp of the log event when the audit event has none', () => {
    expect(clusterFromLogGroup('/aws/eks/prod-eu/cluster')).toBe('prod-eu');
    expect(clusterFromLogGroup('/aws/lambda/x')).toBeUndefined();
    const payload = {
      messageType: 'DATA_MESSAGE',
      owner: '111122223333',
      logGroup: '/aws/eks/prod-eu/cluster',
      logStream: 'kube-apiserver-audit-abc',
      logEvents: [{ id: '1', timestamp: 1714644930000, message: JSON.stringify(event({ requestReceivedTimestamp: undefined })) }],
    };
    const [e] = decodeAll(k8sAuditDecoder, JSON.stringify(payload)).events as K8sAuditEvent[];
    expect(e?.time).toBe(1714644930000);
    expect(e?.workload).toEqual({ cluster: 'prod-eu', account: '111122223333' });
    expect(e?.attributes).toMatchObject({ 'k8s.cluster.name': 'prod-eu', 'cloud.provider': 'aws', 'cloud.account.id': '111122223333' });
  });

  it('ignores CloudWatch control messages without reporting them', () => {
    const r = decodeAll(k8sAuditDecoder, fixture('eks-cloudwatch.jsonl').split('\n')[0] as string);
    expect(r).toEqual({ events: [], errors: [] });
  });

  it('reads gzip subscription payloads inside Kinesis Firehose records', () => {
    const payload = {
      messageType: 'DATA_MESSAGE',
      logGroup: '/aws/eks/c1/cluster',
      logStream: 'kube-apiserver-audit-x',
      logEvents: [{ id: '1', timestamp: 1, message: JSON.stringify(event({})) }],
    };
    const body = {
      requestId: 'r',
      timestamp: 1,
      records: [
        { data: gzipSync(JSON.stringify(payload)).toString('base64') },
        { data: Buffer.from(JSON.stringify(event({ auditID: 'plain' }))).toString('base64') },
      ],
    };
    const { events, errors } = decodeAll(k8sAuditDecoder, JSON.stringify(body));
    expect(errors).toEqual([]);
    expect(events.map((e) => (e as K8sAuditEvent).auditId)).toEqual(['a1', 'plain']);
    expect(events[0]?.workload?.cluster).toBe('c1');
  });

  it('maps GKE resourceName, method verb, gRPC status and authorization', () => {
    expect(objectRefFromResourceName('core/v1/namespaces/ns/pods/p/exec')).toEqual({
      apiVersion: 'v1',
      namespace: 'ns',
      resource: 'pods',
      name: 'p',
      subresource: 'exec',
    });
    expect(objectRefFromResourceName('rbac.authorization.k8s.io/v1/clusterroles/admin')).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      apiVersion: 'v1',
      resource: 'clusterroles',
      name: 'admin',
    });
    expect(objectRefFromResourceName('core/v1/namespaces/kube-system')).toEqual({
      apiVersion: 'v1',
      resource: 'namespaces',
      name: 'kube-system',
      namespace: 'kube-system',
    });
    expect(objectRefFromResourceName('core/v1/namespaces/ns/secrets')).toEqual({ apiVersion: 'v1', namespace: 'ns', resource: 'secrets' });
    expect(objectRefFromResourceName('/healthz')).toBeUndefined();
    const entry = {
      insertId: 'i1',
      timestamp: T,
      labels: { 'authorization.k8s.io/reason': 'RBAC' },
      operation: { id: 'audit-1', producer: 'k8s.io', first: true },
      protoPayload: {
        methodName: 'io.k8s.core.v1.secrets.list',
        serviceName: 'k8s.io',
        resourceName: 'core/v1/namespaces/ns/secrets',
        authenticationInfo: { principalEmail: 'system:serviceaccount:ns:reader' },
        authorizationInfo: [{ permission: 'io.k8s.core.v1.secrets.list', granted: false }],
        requestMetadata: { callerIp: '10.1.1.1', callerSuppliedUserAgent: 'kubectl' },
        status: { code: 7, message: 'forbidden' },
      },
      resource: { type: 'k8s_cluster', labels: { cluster_name: 'gke-1', location: 'europe-west1-b', project_id: 'proj' } },
    };
    const e = decodeOne(entry);
    expect(e).toMatchObject({
      verb: 'list',
      auditId: 'audit-1',
      sourceId: 'i1',
      stage: 'ResponseStarted',
      responseCode: 403,
      decision: 'forbid',
      sourceIps: ['10.1.1.1'],
      userAgent: 'kubectl',
      workload: { namespace: 'ns', cluster: 'gke-1', account: 'proj' },
    });
    expect(e.attributes).toMatchObject({ 'cloud.provider': 'gcp', 'cloud.availability_zone': 'europe-west1-b', 'k8s.serviceaccount.name': 'reader' });
    const ok = decodeOne({ ...entry, operation: { first: true, last: true }, protoPayload: { ...entry.protoPayload, status: {}, authorizationInfo: [] } });
    expect(ok).toMatchObject({ responseCode: 200, decision: 'allow', stage: 'ResponseComplete', auditId: 'i1' });
  });

  it('reads the subscription and cluster from an AKS resourceId in any case', () => {
    const record = {
      category: 'kube-audit-admin',
      time: '2024-05-02T10:15:30Z',
      resourceId: '/SUBSCRIPTIONS/SUB-1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-1',
      properties: { log: JSON.stringify(event({ requestReceivedTimestamp: undefined })), pod: 'kube-apiserver-1' },
    };
    const e = decodeOne(record);
    expect(e.time).toBe(Date.UTC(2024, 4, 2, 10, 15, 30));
    expect(e.workload).toEqual({ cluster: 'AKS-1', account: 'SUB-1' });
    expect(e.attributes).toMatchObject({ 'cloud.provider': 'azure', 'cloud.resource_id': record.resourceId });
  });
});

describe('k8s_audit decoder: framing', () => {
  it('decodes a JSON-lines file given as one document exactly as line by line', () => {
    for (const file of ['exec.jsonl', 'eks-native.jsonl', 'malformed.jsonl']) {
      const lines = decodeAs(k8sAuditDecoder, fixture(file), 'lines', { location: file, observedTime: OBSERVED });
      const doc = decodeAs(k8sAuditDecoder, fixture(file), 'document', { location: file, observedTime: OBSERVED });
      expect(goldenOf({ events: doc.events, errors: [] })).toEqual(goldenOf({ events: lines.events, errors: [] }));
      expect(doc.errors.map((e) => e.reason)).toEqual(lines.errors.map((e) => e.reason));
    }
  });

  it('reports a JSON-lines document error with its line, relative to the input', () => {
    const text = `${JSON.stringify(event({}))}\n{broken\n\n${JSON.stringify(event({ auditID: 'a2' }))}\r\n`;
    const { events, errors } = decodeAll(k8sAuditDecoder, text, { location: 'f.jsonl', line: 1 });
    expect(events.map((e) => [(e as K8sAuditEvent).auditId, e.location])).toEqual([
      ['a1', 'f.jsonl:1'],
      ['a2', 'f.jsonl:4'],
    ]);
    expect(errors).toMatchObject([{ reason: 'invalid_json', location: 'line 2', raw: '{broken' }]);
  });

  it('reports a broken pretty-printed document once, not once per line', () => {
    const text = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [event({})] }, null, 2).slice(0, -40);
    const { events, errors } = decodeAll(k8sAuditDecoder, text);
    expect(events).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.reason).toBe('invalid_json');
    expect(errors[0]?.raw).toBe(text);
  });

  it('splits concatenated JSON values (Firehose to S3) and skips blank input', () => {
    expect(splitConcatenated('{"a":"}{"} {"b":[1,{"c":2}]}[3]')).toEqual(['{"a":"}{"}', '{"b":[1,{"c":2}]}', '[3]']);
    expect(splitConcatenated('{"a":1}')).toBeUndefined();
    expect(splitConcatenated('{"a":1} x {"b":2}')).toBeUndefined();
    const { events } = decodeAll(k8sAuditDecoder, `${JSON.stringify(event({}))}${JSON.stringify(event({ auditID: 'a2' }))}`);
    expect(events).toHaveLength(2);
    expect(decodeAll(k8sAuditDecoder, '  \n\r\n ')).toEqual({ events: [], errors: [] });
  });
});

describe('StageFilterDecoder', () => {
  it('passes only the chosen stages, counts the rest once per input, and passes errors through', () => {
    const counts: number[] = [];
    const decoder = new StageFilterDecoder(k8sAuditDecoder, ['ResponseComplete'], (n) => counts.push(n));
    const { events, errors } = decodeAll(decoder, `${fixture('webhook-eventlist.json')}`);
    expect(events.map((e) => (e as K8sAuditEvent).stage)).toEqual(Array(6).fill('ResponseComplete'));
    expect(counts).toEqual([2]);
    expect(errors).toEqual([]);
    expect(decodeAll(decoder, '{oops').errors[0]?.reason).toBe('invalid_json');
  });
});
