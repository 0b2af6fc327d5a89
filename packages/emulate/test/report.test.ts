import type { Alert } from '@outflow/core';
import { alert } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { attribute, buildResults, type EmulationReport, formatReport, percentile, type ReceivedAlert, type StepRun, summaryLine } from '../src/report.js';
import type { ScenarioStep } from '../src/scenario.js';

const step = (id: string, pods: string[], extra: Partial<ScenarioStep> = {}): ScenarioStep => ({
  id,
  kind: 'attack',
  title: id,
  description: id,
  pods,
  destinations: [],
  expected: [],
  run: async () => {},
  ...extra,
});

const run = (s: ScenarioStep, startWall: number, startEvent: number): StepRun => ({ step: s, startWall, endWall: startWall + 1_000, startEvent });

const got = (a: Alert, wall: number, atShutdown = false): ReceivedAlert => ({ alert: a, wall, atShutdown });

const onPod = (detection: string, pod: string, time: number, extra: Partial<Alert> = {}) =>
  alert({
    detection: { id: detection, title: detection, attack: { technique: 'T1537', tactic: 'TA0010' } },
    workload: { namespace: 'shop', pod },
    time,
    dedupKey: `${detection}|${pod}|${time}`,
    ...extra,
  });

describe('attribution of alerts to steps', () => {
  const archive = run(step('archive_nc', ['orders-db-0']), 10_000, 1_000_000);
  const harvest = run(step('secret_harvest', ['reports-0'], { principals: ['system:serviceaccount:shop:reports'] }), 20_000, 2_000_000);
  const trickle = run(step('slow_trickle', ['reports-0'], { destinations: ['203.0.113.77'] }), 30_000, 3_000_000);
  const runs = [archive, harvest, trickle];

  it('gives an alert to the latest step of its pod that started before its first finding', () => {
    const early = got(onPod('secret_harvesting', 'reports-0', 2_100_000), 21_000);
    const late = got(onPod('new_external_destination', 'reports-0', 3_050_000), 34_000);
    const { perStep, unattributed } = attribute(runs, [early, late]);
    expect(perStep.get(harvest)).toEqual([early]);
    expect(perStep.get(trickle)).toEqual([late]);
    expect(unattributed).toEqual([]);
  });

  it('counts an alert on a step pod before the step started, or on another pod, as false', () => {
    const before = got(onPod('exec_payload', 'orders-db-0', 999_000), 9_000);
    const elsewhere = got(onPod('exec_payload', 'nightly-backup-1', 1_500_000), 15_000);
    const { perStep, unattributed } = attribute(runs, [before, elsewhere]);
    expect(perStep.get(archive)).toEqual([]);
    expect(unattributed).toEqual([before, elsewhere]);
  });

  it('attributes alerts without a pod by user, then by destination', () => {
    const byUser = got(
      alert({
        detection: { id: 'secret_harvesting', title: 's', attack: { technique: 'T1537', tactic: 'TA0010' } },
        time: 2_200_000,
        attributes: { 'user.name': 'system:serviceaccount:shop:reports' },
      }),
      22_000,
    );
    const byDest = got(
      alert({
        detection: { id: 'x', title: 'x', attack: { technique: 'T1537', tactic: 'TA0010' } },
        time: 3_100_000,
        attributes: { 'destination.address': '203.0.113.77' },
      }),
      35_000,
    );
    const { perStep } = attribute(runs, [byUser, byDest]);
    expect(perStep.get(harvest)).toEqual([byUser]);
    expect(perStep.get(trickle)).toEqual([byDest]);
  });
});

describe('results and the summary line', () => {
  it('measures latency from the step start to the first delivery of its first alert, and counts updates once', () => {
    const a = run(step('archive_nc', ['orders-db-0'], { expected: ['pod_exec', 'exfiltration_chain'] }), 10_000, 1_000_000);
    const b = run(step('curl_upload', ['billing-0']), 20_000, 2_000_000);
    const c = run(step('slow_trickle', ['reports-0']), 30_000, 3_000_000);
    const first = onPod('pod_exec', 'orders-db-0', 1_000_100);
    const again = { ...first, status: 'update' as const, count: 2 };
    const delivered = [
      got(first, 10_150),
      got(onPod('egress_volume_anomaly', 'orders-db-0', 1_300_000), 15_000),
      got(again, 16_000),
      got(onPod('exec_payload', 'billing-0', 2_000_500), 20_400),
      got(onPod('exec_payload', 'nightly-backup-1', 500_000), 5_000),
    ];
    const { steps, falseAlerts, summary } = buildResults([a, b, c], delivered);
    expect(steps.map((s) => [s.id, s.caught, s.latencyMs, s.detections])).toEqual([
      ['archive_nc', true, 150, ['pod_exec', 'egress_volume_anomaly']],
      ['curl_upload', true, 400, ['exec_payload']],
      ['slow_trickle', false, undefined, []],
    ]);
    expect(steps[0]?.silent).toEqual(['exfiltration_chain']);
    expect(falseAlerts.map((f) => f.pod)).toEqual(['nightly-backup-1']);
    expect(summary).toEqual({ caught: 2, total: 3, falseAlerts: 1, latencyP50Ms: 150, latencyMaxMs: 400 });
    expect(summaryLine(summary)).toBe('emulate caught=2/3 false=1 latency_p50_ms=150 latency_max_ms=400');
  });

  it('prints dashes when nothing was caught', () => {
    expect(summaryLine({ caught: 0, total: 4, falseAlerts: 0, latencyP50Ms: undefined, latencyMaxMs: undefined })).toBe(
      'emulate caught=0/4 false=0 latency_p50_ms=- latency_max_ms=-',
    );
  });

  it('takes nearest-rank percentiles', () => {
    expect(percentile([300, 100, 200, 400], 0.5)).toBe(200);
    expect(percentile([5], 0.5)).toBe(5);
    expect(percentile([], 0.5)).toBeUndefined();
  });

  it('formats the step table with the summary line last', () => {
    const a = run(step('archive_nc', ['orders-db-0'], { expected: ['pod_exec', 'kubectl_cp'] }), 10_000, 1_000_000);
    const { steps, falseAlerts, summary } = buildResults([a], [got(onPod('pod_exec', 'orders-db-0', 1_000_100, { severity: 'low' }), 10_120)]);
    const report: EmulationReport = {
      runId: 'abcd',
      speed: 120,
      steps,
      benign: [{ id: 'pod_http', title: 't', description: 'd' }],
      falseAlerts,
      suppressed: [{ detection: 'exec_payload', suppressor: 'exceptions', reason: 'nightly backup', pod: 'nightly-backup-1', summary: 's' }],
      summary,
      stats: {},
      deadLetters: {},
      cleanup: 'kept',
      wallMs: 1,
    };
    const lines = formatReport(report).split('\n');
    expect(lines[0]).toMatch(/^\| step +\| result +\| first alert +\| latency ms +\| alerts/);
    expect(lines[2]).toMatch(/^\| archive_nc +\| caught +\| pod_exec \(low\) +\| 120 +\| pod_exec \(120\) +\|$/);
    expect(lines).toContain('suppressed (not an alert): exec_payload nightly-backup-1 by exceptions: nightly backup');
    expect(lines).toContain('false alerts: none');
    expect(lines).toContain('expected but silent: archive_nc: kubectl_cp');
    expect(lines.at(-1)).toBe('emulate caught=1/1 false=0 latency_p50_ms=120 latency_max_ms=120');
  });
});
