import type { Alert, CloudApiCallEvent, FileAccessEvent, Finding, K8sAuditEvent, NetworkFlowEvent, ProcessExecEvent, RuntimeAlertEvent } from '@outflow/core';
import { alertFromFinding, T1537 } from '@outflow/core';

let counter = 0;
const nextId = (prefix: string) => `${prefix}-${++counter}`;

/** Fixed epoch for tests: 2024-01-01T00:00:00Z. */
export const T0 = Date.UTC(2024, 0, 1);

/** Durations in milliseconds. */
export const MIN = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

/** A network flow with defaults: 10.0.1.5:40000 → 203.0.113.10:443 TCP egress, 1 kB, accepted. */
export function flowEvent(partial: Partial<NetworkFlowEvent> = {}): NetworkFlowEvent {
  return {
    kind: 'network_flow',
    time: T0,
    observedTime: T0,
    source: 'test',
    sourceId: nextId('flow'),
    src: { address: '10.0.1.5', port: 40000 },
    dst: { address: '203.0.113.10', port: 443 },
    protocol: 6,
    direction: 'egress',
    bytes: 1000,
    packets: 10,
    action: 'accept',
    ...partial,
  };
}

/** A CloudTrail-like API call with defaults: `ec2.amazonaws.com` `DescribeInstances` by an IAM user of account 111122223333. */
export function cloudCall(partial: Partial<CloudApiCallEvent> = {}): CloudApiCallEvent {
  return {
    kind: 'cloud_api_call',
    time: T0,
    observedTime: T0,
    source: 'test',
    sourceId: nextId('ct'),
    provider: 'aws',
    service: 'ec2.amazonaws.com',
    operation: 'DescribeInstances',
    actor: { type: 'IAMUser', accountId: '111122223333', arn: 'arn:aws:iam::111122223333:user/alice', userName: 'alice' },
    recipientAccountId: '111122223333',
    region: 'us-east-1',
    ...partial,
  };
}

/** A Kubernetes audit event with defaults: `get pods` by alice in namespace `default`, allowed. */
export function auditEvent(partial: Partial<K8sAuditEvent> = {}): K8sAuditEvent {
  const auditId = partial.auditId ?? nextId('audit');
  return {
    kind: 'k8s_audit',
    time: T0,
    observedTime: T0,
    source: 'test',
    sourceId: auditId,
    auditId,
    stage: 'ResponseComplete',
    verb: 'get',
    user: { username: 'alice', groups: ['system:authenticated'] },
    sourceIps: ['192.0.2.10'],
    objectRef: { resource: 'pods', namespace: 'default', name: 'web-0', apiVersion: 'v1' },
    responseCode: 200,
    decision: 'allow',
    ...partial,
  };
}

/** A process start in a container with defaults: `/bin/sh -c true` in pod `web-0`. */
export function processExec(partial: Partial<ProcessExecEvent> = {}): ProcessExecEvent {
  return {
    kind: 'process_exec',
    time: T0,
    observedTime: T0,
    source: 'test',
    sourceId: nextId('proc'),
    phase: 'exec',
    process: { pid: 100, executable: '/bin/sh', args: ['sh', '-c', 'true'] },
    workload: { namespace: 'default', pod: 'web-0', container: 'web', image: 'registry.example/web:1.0' },
    ...partial,
  };
}

export function fileAccess(partial: Partial<FileAccessEvent> = {}): FileAccessEvent {
  return {
    kind: 'file_access',
    time: T0,
    observedTime: T0,
    source: 'test',
    sourceId: nextId('file'),
    path: '/etc/hostname',
    operation: 'open',
    workload: { namespace: 'default', pod: 'web-0', container: 'web' },
    ...partial,
  };
}

export function runtimeAlert(partial: Partial<RuntimeAlertEvent> = {}): RuntimeAlertEvent {
  return {
    kind: 'runtime_alert',
    time: T0,
    observedTime: T0,
    source: 'test',
    sourceId: nextId('falco'),
    engine: 'falco',
    rule: 'Terminal shell in container',
    priority: 'Notice',
    output: 'A shell was spawned in a container',
    tags: ['container', 'shell'],
    fields: {},
    workload: { namespace: 'default', pod: 'web-0', container: 'web' },
    ...partial,
  };
}

/** A finding with defaults (detection `test_rule`, medium). */
export function finding(partial: Partial<Finding> = {}): Finding {
  return {
    detection: { id: 'test_rule', title: 'Test rule', attack: T1537 },
    severity: 'medium',
    time: T0,
    evidence: [{ source: 'test', id: nextId('ev') }],
    explanation: { summary: 'test finding' },
    dedupKey: nextId('key'),
    ...partial,
  };
}

/** An alert with defaults, as a pipeline would deliver it. */
export function alert(partial: Partial<Finding> & Partial<Alert> = {}): Alert {
  const { id, status, count, firstSeen, lastSeen, emittedAt, labels, severityId, ...rest } = partial;
  const a = alertFromFinding(finding(rest), emittedAt ?? T0);
  return {
    ...a,
    ...(id !== undefined ? { id } : {}),
    ...(status !== undefined ? { status } : {}),
    ...(count !== undefined ? { count } : {}),
    ...(firstSeen !== undefined ? { firstSeen } : {}),
    ...(lastSeen !== undefined ? { lastSeen } : {}),
    ...(labels !== undefined ? { labels } : {}),
    ...(severityId !== undefined ? { severityId } : {}),
  };
}
