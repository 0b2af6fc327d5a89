import { describe, expect, it } from 'vitest';
import { cloudTrail, runPreset, stratusFiles } from './helpers.js';

/** The T1537 detonations and the analytic each must fire; every other technique must fire none. */
const POSITIVES: Record<string, string> = {
  'aws.exfiltration.ec2-share-ebs-snapshot.json': 'ebs_snapshot_shared',
  'aws.exfiltration.ec2-share-ami.json': 'ami_shared',
  'aws.exfiltration.rds-share-snapshot.json': 'rds_snapshot_shared',
};

describe('Stratus Red Team detonations through the t1537 preset (default config)', () => {
  const files = stratusFiles();

  it('covers the three T1537 positives and at least 25 other techniques', () => {
    for (const f of Object.keys(POSITIVES)) expect(files).toContain(f);
    expect(files.length - Object.keys(POSITIVES).length).toBeGreaterThanOrEqual(25);
  });

  for (const file of files) {
    const expected = POSITIVES[file];
    it(`${file}: ${expected ? `fires ${expected} only` : 'fires nothing'}`, async () => {
      const events = cloudTrail(`stratus/${file}`);
      expect(events.length).toBeGreaterThan(0);
      const run = await runPreset(events);
      expect(run.detectionIds()).toEqual(expected ? [expected] : []);
      expect(run.deadLetter.entries()).toEqual([]);
      if (expected) {
        const [alert] = run.byDetection(expected);
        expect(alert?.evidence.map((e) => e.source)).toEqual(['aws_cloudtrail']);
        expect(alert?.evidence[0]?.id).toBe(events.find((e) => /Modify(DB)?(Snapshot|Image)Attribute/.test(e.operation))?.sourceId);
        expect(alert?.detection.attack.technique).toBe('T1537');
        expect(alert?.response?.contain?.length).toBeGreaterThan(0);
      }
    });
  }

  it('cloudtrail2sightings EBS detonation (Records file, 2022) fires ebs_snapshot_shared', async () => {
    const run = await runPreset(cloudTrail('cloudtrail2sightings/aws.exfiltration.ec2-share-ebs-snapshot.json'));
    expect(run.detectionIds()).toEqual(['ebs_snapshot_shared']);
    const [alert] = run.byDetection('ebs_snapshot_shared');
    expect(alert?.attributes?.['aws.share.grantees']).toEqual(['012345678912']);
    expect(alert?.severity).toBe('high');
  });
});
