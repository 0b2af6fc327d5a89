import { describe, expect, it } from 'vitest';
import { t1537Config } from '../../src/index.js';
import { runPreset } from '../helpers.js';
import { byId, decodeLines } from './helpers.js';

const events = () => decodeLines('k8s/exec-audit.jsonl', 'k8s_audit');

describe('pod_exec (9) on exec-audit.jsonl', () => {
  it('rates each exec: shells and sensitive namespaces raise, refusals are informational, diagnostics are excepted', async () => {
    const run = await runPreset(events());
    const got = byId(run.alerts, 'pod_exec').map((a) => [a.evidence[0]?.id, a.severity, a.attributes?.['k8s.exec.command']]);
    expect(got).toEqual([
      ['exec-0001', 'high', 'sh'], // interactive shell in kube-system
      ['exec-0002', 'low', 'ls /app'],
      ['exec-0004', 'low', 'env'], // env prints secrets: never a "diagnostic"
      ['exec-0005', 'informational', 'sh'], // forbidden
      ['exec-0006', 'medium', 'bash'], // logged at three stages, reported once
      ['exec-0007', 'medium', '(attach)'], // attach with a terminal
      ['exec-0008', 'low', 'cat /etc/os-release'],
      ['exec-0010', 'low', 'tar cf - /var/lib/postgresql/data'],
      ['exec-0011', 'low', 'sh -c tar cf - /var/lib/postgresql/data | tail -c+1048577'],
      ['exec-0012', 'low', 'tar --no-same-permissions --no-same-owner -xmf - -C /tmp'],
      ['exec-0013', 'low', 'tar cf - /root/.aws/credentials'],
      ['exec-0014', 'informational', 'tar cf - /app/data'],
    ]);
    // `date` (exec-0003) is suppressed by the default exception, and says so.
    const suppressed = run.suppressed.filter((s) => s.finding.detection.id === 'pod_exec');
    expect(suppressed.map((s) => s.finding.evidence[0]?.id)).toEqual(['exec-0003']);
    expect(suppressed[0]?.reason).toMatch(/read-only-diagnostics/);
  });

  it('says who, where and how, and names the impersonated identity', async () => {
    const run = await runPreset(events());
    const [shell] = byId(run.alerts, 'pod_exec');
    expect(shell?.explanation.summary).toBe('alice@acme.example opened an interactive sh in pod kube-system/coredns-6d4b75cb6d-x2x9z.');
    expect(shell?.explanation.reasons).toEqual(['interactive sh with a terminal', 'namespace kube-system is sensitive']);
    expect(shell?.attributes).toMatchObject({
      'user.name': 'alice@acme.example',
      'k8s.user.groups': ['sre', 'system:authenticated'],
      'source.address': '192.0.2.10',
      'k8s.namespace.name': 'kube-system',
      'k8s.pod.name': 'coredns-6d4b75cb6d-x2x9z',
      'k8s.container.name': 'coredns',
      'k8s.exec.interactive': true,
      'k8s.exec.tty': true,
    });
    expect(shell?.detection.relatedAttack?.map((r) => r.technique)).toEqual(['T1609']);
    expect(shell?.response?.contain?.length).toBeGreaterThan(0);
    const impersonated = byId(run.alerts, 'pod_exec').find((a) => a.evidence[0]?.id === 'exec-0008');
    expect(impersonated?.attributes).toMatchObject({ 'user.name': 'alice@acme.example', 'k8s.audit.impersonated_by': 'ci-bot@acme.example' });
  });

  it('params: more sensitive namespaces, refused execs dropped, default exceptions off, base severity moved', async () => {
    const run = await runPreset(events(), {
      analytics: { pod_exec: { severity: 'medium', defaultExceptions: false, params: { sensitiveNamespaces: ['kube-system', 'data'], reportDenied: false } } },
    });
    const got = Object.fromEntries(byId(run.alerts, 'pod_exec').map((a) => [a.evidence[0]?.id, a.severity]));
    expect(got['exec-0003']).toBe('medium'); // no longer excepted
    expect(got['exec-0005']).toBeUndefined(); // refused: not reported
    expect(got['exec-0010']).toBe('high'); // namespace data is now sensitive
    expect(got['exec-0001']).toBe('critical');
  });

  it('configuration errors name their path, all at once', () => {
    expect(() => t1537Config({ analytics: { pod_exec: { params: { sensitiveNamespaces: 'kube-system', typo: 1 } as never } } })).toThrow(
      /analytics\.pod_exec\.params\.sensitiveNamespaces[\s\S]*typo/,
    );
  });
});
