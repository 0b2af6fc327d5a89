import { auditEvent } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { runPreset } from '../helpers.js';
import { byId, decodeLines } from './helpers.js';

const T = Date.parse('2024-05-06T10:00:00Z');
let n = 0;
const get = (time: number, user: string, namespace: string, name: string, extra: Partial<Parameters<typeof auditEvent>[0]> = {}) => {
  const id = `g-${++n}`;
  return auditEvent({
    time,
    sourceId: id,
    auditId: id,
    stage: 'ResponseComplete',
    verb: 'get',
    user: { username: user },
    objectRef: { resource: 'secrets', namespace, name, apiVersion: 'v1' },
    responseCode: 200,
    ...extra,
  });
};

describe('secret_harvesting (12) on secrets-audit.jsonl', () => {
  it('three distinct secrets within ten minutes; cluster-wide lists; not system identities, refused reads, slow readers or secret operators', async () => {
    const run = await runPreset(decodeLines('k8s/secrets-audit.jsonl', 'k8s_audit'));
    const alerts = run.alerts.filter((a) => a.detection.id === 'secret_harvesting');
    expect(alerts.map((a) => [a.status, a.dedupKey, a.severity, /read (\d+) distinct/.exec(a.explanation.summary)?.[1] ?? null])).toEqual([
      ['new', 'eve@acme.example|burst', 'medium', '3'],
      ['new', 'heidi@acme.example|cluster-wide', 'high', null],
      ['new', 'ivan@acme.example|burst', 'high', '3'], // namespaced lists count as <namespace>/*; three namespaces
      ['new', 'system:serviceaccount:shop:debug|burst', 'medium', '3'],
      // A fourth secret in another namespace raises the open alert (the update carries the new explanation).
      ['update', 'eve@acme.example|burst', 'high', '4'],
    ]);
    expect(alerts[0]?.attributes?.['k8s.secret.names']).toEqual(['shop/payment-api-key', 'shop/db-credentials', 'shop/registry-pull']);
    expect(alerts[0]?.evidence.map((e) => e.id)).toEqual(['sec-0002', 'sec-0003', 'sec-0004']);
    expect(alerts[0]?.explanation.summary).toBe(
      'eve@acme.example read 3 distinct secrets in 80 s: shop/payment-api-key, shop/db-credentials, shop/registry-pull.',
    );
    expect(alerts[3]?.attributes?.['k8s.audit.actor.pod.name']).toBe('debug-6b7c-xyz');
    const suppressed = run.suppressed.filter((s) => s.finding.detection.id === 'secret_harvesting');
    expect(suppressed.map((s) => s.finding.attributes?.['user.name'])).toEqual(['system:serviceaccount:cert-manager:cert-manager']);
  });

  it('counts in event time: reads arriving out of order still make a burst; reads eleven minutes apart do not', async () => {
    const outOfOrder = await runPreset([get(T + 120_000, 'u1', 'a', 's3'), get(T, 'u1', 'a', 's1'), get(T + 60_000, 'u1', 'a', 's2')]);
    expect(byId(outOfOrder.alerts, 'secret_harvesting').map((a) => a.attributes?.['k8s.secret.names'])).toEqual([['a/s1', 'a/s2', 'a/s3']]);
    const spread = await runPreset([get(T, 'u2', 'a', 's1'), get(T + 330_000, 'u2', 'a', 's2'), get(T + 660_000, 'u2', 'a', 's3')]);
    expect(byId(spread.alerts, 'secret_harvesting')).toEqual([]);
  });

  it('the threshold and window are parameters; impersonation is judged as the impersonated identity', async () => {
    const events = [
      get(T, 'admin', 'a', 's1', { impersonatedUser: { username: 'intern@acme.example' } }),
      get(T + 1000, 'admin', 'a', 's2', { impersonatedUser: { username: 'intern@acme.example' } }),
    ];
    expect(byId((await runPreset(events)).alerts, 'secret_harvesting')).toEqual([]);
    const run = await runPreset(events, { analytics: { secret_harvesting: { params: { threshold: 2 } } } });
    expect(byId(run.alerts, 'secret_harvesting').map((a) => [a.dedupKey, a.attributes?.['k8s.audit.impersonated_by']])).toEqual([
      ['intern@acme.example|burst', 'admin'],
    ]);
  });

  it('keeps bounded state: identities beyond maxIdentities are evicted (least recently active first)', async () => {
    const events = [];
    for (let i = 0; i < 50; i++) events.push(get(T + i, `user-${i}`, 'a', 's1'), get(T + 100 + i, `user-${i}`, 'a', 's2'));
    // user-0 reads its third secret after 49 other identities went by: with room for 10 it was forgotten.
    events.push(get(T + 1000, 'user-0', 'a', 's3'));
    const small = await runPreset(events, { analytics: { secret_harvesting: { params: { maxIdentities: 10 } } } });
    expect(byId(small.alerts, 'secret_harvesting')).toEqual([]);
    const large = await runPreset(events);
    expect(byId(large.alerts, 'secret_harvesting').map((a) => a.dedupKey)).toEqual(['user-0|burst']);
  });
});
