import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type CloudApiCallEvent, ConfigError } from '@outflow/core';
import { type HttpReply, post as httpPost, receiverConformance, selfSignedCert } from '@outflow/testkit';
import { defineConformanceTests, receiverStarter, tempDirs } from '@outflow/testkit/vitest';
import { describe, expect, it } from 'vitest';
import { type CloudTrailConfigInput, type CloudTrailReceiver, cloudTrail } from '../src/index.js';
import { fixture, TESTDATA } from './helpers.js';

const DELIVERY = fixture('delivery-ec2-share-ebs-snapshot.json');
const DELIVERY_GZ = readFileSync(join(TESTDATA, 'delivery-ec2-share-ebs-snapshot.json.gz'));
const ENVELOPE = fixture('eventbridge.jsonl').split('\n')[0] as string;

/** A real HTTP(S) POST of JSON to the receiver on 127.0.0.1. */
function post(url: string, body: string | Buffer, headers: Record<string, string> = {}, ca?: Buffer): Promise<HttpReply> {
  return httpPost(url, body, { 'Content-Type': 'application/json', ...headers }, { ca });
}

const tempDir = tempDirs('outflow-cloudtrail-');
const start = receiverStarter<CloudTrailReceiver, CloudTrailConfigInput>(cloudTrail, { path: '/cloudtrail' });

/** Where an S3 sync of a trail puts one delivery file. */
function deliveryPath(root: string, name: string): string {
  const dir = join(root, 'AWSLogs', '677301038893', 'CloudTrail', 'us-east-1', '2022', '07', '20');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

defineConformanceTests(
  'aws_cloudtrail receiver conformance (HTTP)',
  receiverConformance({
    factory: cloudTrail,
    defaultConfigRequiresInput: true,
    config: async (env) => ({ http: { port: await env.freePort() } }),
    sendValid: async (_env, config) => {
      expect((await post(`http://127.0.0.1:${(config as { http: { port: number } }).http.port}/cloudtrail`, ENVELOPE)).status).toBe(200);
    },
    sendInvalid: async (_env, config) => {
      await post(`http://127.0.0.1:${(config as { http: { port: number } }).http.port}/cloudtrail`, '{"Records":[{"eventName":');
    },
  }),
);

let seq = 0;
defineConformanceTests(
  'aws_cloudtrail receiver conformance (S3-synced folder)',
  receiverConformance({
    factory: cloudTrail,
    defaultConfigRequiresInput: true,
    config: (env) => ({ file: { paths: [env.dir], follow: true, pollIntervalMs: 20 } }),
    sendValid: async (env) => writeFileSync(deliveryPath(env.dir, `677301038893_CloudTrail_us-east-1_20220720T2115Z_${++seq}.json.gz`), DELIVERY_GZ),
    sendInvalid: async (env) =>
      writeFileSync(deliveryPath(env.dir, `677301038893_CloudTrail_us-east-1_20220720T2115Z_${++seq}.json`), '{"Records":[{"eventName":"x"}'),
  }),
);

describe('aws_cloudtrail configuration', () => {
  it('requires a transport, fills defaults, and reports every problem with its path', () => {
    expect(() => cloudTrail.validate({}, 'receivers[1]')).toThrow(/receivers\[1\]: configure at least one transport/);
    const config = cloudTrail.validate({ file: { paths: ['/var/log/cloudtrail'] }, http: {} });
    expect(config).toMatchObject({
      path: '/cloudtrail',
      framing: 'document',
      file: { recursive: true, exclude: ['*CloudTrail-Digest*'], follow: false, maxRecordBytes: 16 * 1024 * 1024 },
    });
    let error: unknown;
    try {
      cloudTrail.validate({ file: { paths: [], extra: true }, http: { busyStatus: 500 }, framing: 'xml' }, 'r');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path).sort()).toEqual(['r.file', 'r.file.paths', 'r.framing', 'r.http.busyStatus']);
  });
});

describe('aws_cloudtrail S3-synced folders', () => {
  it('reads .json and .json.gz delivery files recursively, skips digest files, and completes', async () => {
    const root = tempDir();
    writeFileSync(deliveryPath(root, '677301038893_CloudTrail_us-east-1_20220720T2115Z_a.json.gz'), DELIVERY_GZ);
    writeFileSync(deliveryPath(root, '677301038893_CloudTrail_us-east-1_20220720T2120Z_b.json'), fixture('records-mixed.json'));
    const digest = join(root, 'AWSLogs', '677301038893', 'CloudTrail-Digest', 'us-east-1', '2022', '07', '20');
    mkdirSync(digest, { recursive: true });
    writeFileSync(
      join(digest, '677301038893_CloudTrail-Digest_us-east-1_trail_us-east-1_20220720T211500Z.json.gz'),
      gzipSync('{"digestStartTime":"x","logFiles":[]}'),
    );
    const { host } = await start({ file: { paths: [root] } });
    await host.waitForComplete();
    expect(host.events).toHaveLength(1 + 3);
    expect(host.events.map((e) => (e as CloudApiCallEvent).operation)).toContain('ModifySnapshotAttribute');
    expect(host.deadLetters).toHaveLength(1);
    expect(host.deadLetters[0]).toMatchObject({ stage: 'decode', reason: 'missing_field' });
    expect(host.deadLetters[0]?.location).toMatch(/_b\.json:1#\/Records\/1$/);
    for (const e of host.events) expect(e.location).toMatch(/\.json(\.gz)?:1$/);
  });

  it('reads pretty-printed record arrays (Stratus Red Team detonation logs) as documents', async () => {
    const dir = tempDir();
    for (const f of [
      'stratus-aws.exfiltration.ec2-share-ebs-snapshot.json',
      'stratus-aws.exfiltration.ec2-share-ami.json',
      'stratus-aws.exfiltration.rds-share-snapshot.json',
    ])
      writeFileSync(join(dir, f), fixture(f));
    const { host } = await start({ file: { paths: [dir] } });
    await host.waitForComplete();
    expect(host.events.map((e) => (e as CloudApiCallEvent).operation).sort()).toEqual([
      'ModifyDBSnapshotAttribute',
      'ModifyImageAttribute',
      'ModifySnapshotAttribute',
    ]);
  });

  it('tails JSON lines with lines framing and picks up new delivery files while following', async () => {
    const dir = tempDir();
    const path = join(dir, 'trail.jsonl');
    const lines = fixture('panther-cloudtrail.jsonl').split('\n').slice(0, 4);
    writeFileSync(path, `${lines.slice(0, 2).join('\n')}\n`);
    const { host } = await start({ file: { paths: [dir], follow: true, pollIntervalMs: 20 }, framing: 'lines' });
    await host.waitForEvents(2);
    appendFileSync(path, `${lines.slice(2, 4).join('\n')}\n`);
    await host.waitForEvents(4);
    expect(host.events.map((e) => e.location)).toEqual([1, 2, 3, 4].map((n) => `${path}:${n}`));
    writeFileSync(join(dir, 'late.json'), `${ENVELOPE}\n`);
    await host.waitForEvents(5);
    expect(host.completed).toBe(false);
  });
});

describe('aws_cloudtrail HTTP on 127.0.0.1', () => {
  it('accepts delivery documents, envelopes and JSON lines; rejects bad bodies with 400 and dead-letters them', async () => {
    const { host, url } = await start({ http: {} });
    expect((await post(url, DELIVERY)).status).toBe(200);
    expect((await post(url, fixture('eventbridge.jsonl'))).status).toBe(200);
    expect(host.events).toHaveLength(3);
    expect(host.deadLetters.map((d) => d.reason)).toEqual(['unsupported_record', 'missing_field']);
    const bad = await post(url, 'definitely not cloudtrail');
    expect(bad.status).toBe(400);
    expect(host.deadLetters[2]).toMatchObject({ reason: 'invalid_json', raw: 'definitely not cloudtrail' });
    expect((await post(url, gzipSync(DELIVERY), { 'Content-Encoding': 'gzip' })).status).toBe(200);
    expect(host.events).toHaveLength(4);
  });

  it('authenticates, limits bodies, and answers busy while the pipeline is full', async () => {
    const { host, url } = await start({ http: { bearerToken: 'tok', maxBodyBytes: 4096, busyStatus: 503, retryAfterSeconds: 2 } }, (h) => {
      h.full = true;
    });
    expect((await post(url, ENVELOPE)).status).toBe(401);
    expect((await post(url, `${ENVELOPE}\n`.repeat(4), { Authorization: 'Bearer tok' })).status).toBe(413);
    const busy = await post(url, ENVELOPE, { Authorization: 'Bearer tok' });
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('2');
    host.full = false;
    expect((await post(url, ENVELOPE, { Authorization: 'Bearer tok' })).status).toBe(200);
    expect(host.events).toHaveLength(1);
  });

  it('serves HTTPS', async () => {
    const dir = tempDir();
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    selfSignedCert(certFile, keyFile);
    const { host, url } = await start({ http: { tls: { certFile, keyFile } } });
    expect((await post(url, DELIVERY, {}, readFileSync(certFile))).status).toBe(200);
    expect(host.events).toHaveLength(1);
  });
});
