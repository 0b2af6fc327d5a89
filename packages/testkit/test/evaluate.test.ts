import { describe, expect, it } from 'vitest';
import { alert, evaluateAlerts, type StepLabel } from '../src/index.js';

const T = Date.UTC(2024, 2, 4, 5);
const step = (partial: Partial<StepLabel>): StepLabel => ({
  scenario: 's',
  step: 'x',
  kind: 'attack',
  description: '',
  start: T,
  end: T + 60_000,
  expected: [],
  evidence: [],
  ...partial,
});

describe('evaluateAlerts', () => {
  it('matches alerts to steps by evidence, workload or actor, within the time slack', () => {
    const steps = [
      step({ step: 'share', evidence: [{ source: 'aws_cloudtrail', id: 'ev-1' }], expected: ['ebs_snapshot_shared'] }),
      step({ step: 'exec', workload: 'prod/shop/Pod/debug-1', expected: ['pod_exec', 'exec_payload'], start: T + 600_000, end: T + 700_000 }),
      step({ step: 'backup', kind: 'benign', workload: 'prod/ops/CronJob/nightly-backup' }),
    ];
    const alerts = [
      alert({
        detection: { id: 'ebs_snapshot_shared', title: '', attack: { technique: 'T1537', tactic: 'TA0010' } },
        evidence: [{ source: 'aws_cloudtrail', id: 'ev-1' }],
        time: T + 1000,
      }),
      alert({
        detection: { id: 'pod_exec', title: '', attack: { technique: 'T1537', tactic: 'TA0010' } },
        workload: { namespace: 'shop', workloadName: 'debug-1' },
        time: T + 650_000,
      }),
      // right workload, far too late: not a match
      alert({
        detection: { id: 'pod_exec', title: '', attack: { technique: 'T1537', tactic: 'TA0010' } },
        workload: { namespace: 'shop', workloadName: 'debug-1' },
        time: T + 10 * 3_600_000,
      }),
      alert({
        detection: { id: 'egress_volume_anomaly', title: '', attack: { technique: 'T1537', tactic: 'TA0010' } },
        workload: { namespace: 'ops', workloadName: 'nightly-backup' },
        time: T,
      }),
    ];
    const e = evaluateAlerts(alerts, steps);
    expect(e.alerts).toBe(4);
    expect(e.truePositives).toBe(2);
    expect(e.falsePositives).toBe(2);
    expect(e.precision).toBe(0.5);
    expect(e.recall).toBe(1);
    expect(e.steps.map((s) => [s.step.step, s.caught, s.by])).toEqual([
      ['share', true, ['ebs_snapshot_shared']],
      ['exec', true, ['pod_exec']],
    ]);
    const exec = e.perAnalytic.find((a) => a.analytic === 'pod_exec');
    expect(exec).toMatchObject({ truePositives: 1, falsePositives: 1, expectedSteps: 1, caughtSteps: 1, recall: 1, latencyMedianMs: 50_000 });
    const payload = e.perAnalytic.find((a) => a.analytic === 'exec_payload');
    expect(payload).toMatchObject({ expectedSteps: 1, caughtSteps: 0, recall: 0, precision: null });
  });

  it('counts only first deliveries', () => {
    const a = alert({ time: T });
    const e = evaluateAlerts([a, { ...a, status: 'update', count: 3 }], []);
    expect(e.alerts).toBe(1);
    expect(e.recall).toBeNull();
  });
});
