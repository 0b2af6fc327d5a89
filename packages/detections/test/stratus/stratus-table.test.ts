import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ANALYTICS } from '../../src/index.js';
import { cloudTrail, runPreset, stratusFiles } from '../helpers.js';

const README = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'docs', 'detections', 'README.md');

/** The three T1537 techniques of Stratus Red Team and the analytic each must fire. */
const POSITIVES: Record<string, string> = {
  'aws.exfiltration.ec2-share-ebs-snapshot': 'ebs_snapshot_shared',
  'aws.exfiltration.ec2-share-ami': 'ami_shared',
  'aws.exfiltration.rds-share-snapshot': 'rds_snapshot_shared',
};

/** The generated table in docs/detections/README.md, by technique. */
function readmeTable(): Map<string, { events: number; alerts: string }> {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('<!-- stratus-table:begin -->');
  const end = text.indexOf('<!-- stratus-table:end -->');
  const rows = new Map<string, { events: number; alerts: string }>();
  for (const line of text.slice(start, end).split('\n')) {
    const m = /^\| (\*\*)?([a-z0-9.-]+)\1? \| (\d+) \| (.+) \|$/.exec(line);
    if (m) rows.set(m[2] as string, { events: Number(m[3]), alerts: m[4] as string });
  }
  return rows;
}

describe('Stratus Red Team: all 35 detonation logs through the t1537 preset', () => {
  const files = stratusFiles();
  const table = readmeTable();
  const t1537Analytics = ANALYTICS.filter((a) => a.attack.technique === 'T1537').map((a) => a.id);

  it('has every detonation log of Stratus Red Team @ 7c9a7a5, and the table lists each', () => {
    expect(files).toHaveLength(35);
    expect([...table.keys()].sort()).toEqual(files.map((f) => f.replace(/\.json$/, '')));
    expect(t1537Analytics).toEqual(
      expect.arrayContaining(['ebs_snapshot_shared', 'ami_shared', 'rds_snapshot_shared', 'egress_volume_anomaly', 'exfiltration_chain']),
    );
  });

  for (const file of files) {
    const technique = file.replace(/\.json$/, '');
    const expected = POSITIVES[technique];
    it(`${technique}: ${expected ? `fires ${expected} and no other T1537 analytic` : 'fires no T1537 analytic'}; the README row says so`, async () => {
      const events = cloudTrail(`stratus/${file}`);
      const run = await runPreset(events);
      const fired = run.alerts.filter((a) => a.status === 'new' && t1537Analytics.includes(a.detection.id));
      expect([...new Set(fired.map((a) => a.detection.id))]).toEqual(expected ? [expected] : []);
      expect(run.deadLetter.entries()).toEqual([]);
      const row = table.get(technique);
      expect(row?.events).toBe(events.length);
      const cell = fired.length > 0 ? [...new Set(fired.map((a) => `${a.detection.id} (${a.severity})`))].sort().join(', ') : '—';
      expect(row?.alerts).toBe(cell);
    });
  }
});
