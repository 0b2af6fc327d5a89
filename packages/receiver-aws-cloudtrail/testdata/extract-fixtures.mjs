// How the excerpts of this folder were cut (run once, by hand, from a checkout that has ../shared/data beside it):
// `node testdata/extract-fixtures.mjs /path/to/shared/data`. Tests never run it. Changes are listed in NOTICE.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const data = process.argv[2];
if (!data) throw new Error('usage: node extract-fixtures.mjs <shared/data>');
const here = new URL('.', import.meta.url).pathname;

// 1. Stratus Red Team detonation logs (pretty-printed JSON arrays of records), unchanged.
for (const name of ['aws.exfiltration.ec2-share-ebs-snapshot.json', 'aws.exfiltration.ec2-share-ami.json', 'aws.exfiltration.rds-share-snapshot.json', 'aws.defense-evasion.cloudtrail-stop.json']) {
  copyFileSync(join(data, 'stratus-red-team', 'docs', 'detonation-logs', name), join(here, `stratus-${name}`));
}

// 2. A delivery file ({"Records": [...]}) from cloudtrail2sightings, unchanged, and gzipped (mtime 0) as S3 delivers it.
const delivery = join(data, 'cloudtrail2sightings', 'extracted', 'aws.exfiltration.ec2-share-ebs-snapshot.json');
copyFileSync(delivery, join(here, 'delivery-ec2-share-ebs-snapshot.json'));
const gz = gzipSync(readFileSync(delivery));
gz.writeUInt32LE(0, 4);
writeFileSync(join(here, 'delivery-ec2-share-ebs-snapshot.json.gz'), gz);

// 3. Panther rule-test records as JSON lines (p_* enrichment fields removed): the T1537-related rules and a few
//    records in Panther's lower-cased or partial forms, which are not CloudTrail and must be reported.
const lines = readFileSync(join(data, 'panther-analysis', 'extracted_rule_tests', 'aws_cloudtrail_rules.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l));
const strip = (v) => {
  if (Array.isArray(v)) return v.map(strip);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => !k.startsWith('p_')).map(([k, x]) => [k, strip(x)]));
  return v;
};
const rules = new Set([
  'AWS.CloudTrail.SnapshotMadePublic',
  'AWS.CloudTrail.AMIModifiedForPublicAccess',
  'AWS.RDS.SnapshotExport',
  'AWS.RDS.SnapshotCopiedCrossRegion',
  'AWS.CloudTrail.VPCE.S3ExternalIP',
  'AWS.CloudTrail.IMDSCredentialExfiltration',
  'AWS.IPSet.Modified',
  'AWS.S3.BucketDeleted',
]);
const picked = lines.filter((t) => rules.has(t.rule_id)).map((t) => strip(t.log));
writeFileSync(join(here, 'panther-cloudtrail.jsonl'), `${picked.map((r) => JSON.stringify(r)).join('\n')}\n`);

// 4. A delivery file with three good records and one without eventTime (taken from the picks above).
const good = picked.filter((r) => r && r.eventTime && r.eventName && r.eventSource).slice(0, 3);
const bad = { ...good[0] };
delete bad.eventTime;
writeFileSync(join(here, 'records-mixed.json'), `${JSON.stringify({ Records: [good[0], bad, good[1], good[2]] })}\n`);
