import { describe, expect, it } from 'vitest';
import { run } from './helpers.js';

describe('outflow demo', () => {
  it('catches every attack step of the bundled scenario, raises nothing on the backup, and prints its summary', async () => {
    const r = await run(['demo']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/== Summary ==/);
    expect(r.stdout).toMatch(/nightly backup to the organisation's bucket: no alerts/);
    expect(r.stdout).toMatch(/Suppressed findings: \d+/);
    const last = r.stdout.trim().split('\n').at(-1) ?? '';
    const m = /^demo caught=(\d+)\/(\d+) false=(\d+) alerts=(\d+)/.exec(last);
    expect(m).not.toBeNull();
    expect(m?.[1]).toBe(m?.[2]);
    expect(m?.[3]).toBe('0');
    // alerts print as they fire, with their explanation
    expect(r.stdout).toMatch(/HIGH\s+.*EBS snapshot/);
  }, 120_000);
});

describe('outflow eval', () => {
  it('prints per-analytic precision and recall and the summary line; --json gives the same table', async () => {
    const args = [
      'eval',
      '--scenario',
      'nightly_backup',
      '--scenario',
      'ci_pulls',
      '--scenario',
      'admin_ops',
      '--scenario',
      'exfil_chain',
      '--scenario',
      'kubectl_cp',
      '--scenario',
      'cloud_shares',
      '--hours',
      '6',
    ];
    const r = await run(args);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/analytic\s+TP\s+FP\s+precision\s+recall/);
    const last = r.stdout.trim().split('\n').at(-1) ?? '';
    expect(last).toMatch(/^eval precision=(\d\.\d\d|-) recall=(\d\.\d\d|-) alerts=\d+$/);
    const json = await run([...args, '--json']);
    const body = json.stdout.slice(0, json.stdout.lastIndexOf('\neval '));
    const parsed = JSON.parse(body) as { perAnalytic: { analytic: string; tp: number; fp: number }[]; recall: number; precision: number };
    expect(parsed.perAnalytic.find((a) => a.analytic === 'ebs_snapshot_shared')?.tp).toBe(1);
    expect(last).toBe((json.stdout.trim().split('\n').at(-1) ?? '').trim());
    expect(parsed.recall).toBe(1);
    expect(parsed.precision).toBe(1);
  }, 120_000);
});
