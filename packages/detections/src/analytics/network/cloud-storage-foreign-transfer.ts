import {
  type AttributeValue,
  type CloudApiCallEvent,
  type Detection,
  type DetectionContext,
  type EventRef,
  eventRef,
  type Finding,
  type K8sAuditEvent,
  KeyedState,
  type NetworkFlowEvent,
  type OutflowEvent,
  type ProcessExecEvent,
  type RuntimeAlertEvent,
  safeMap,
  tumblingWindows,
  type WindowResult,
  type WindowStateHandle,
  type WorkloadIdentity,
  z,
} from '@outflow/core';
import { mergeMap, Observable } from 'rxjs';
import { type AnalyticEnv, ATTACK, adjustSeverity, defineAnalytic } from '../../analytic.js';
import {
  CheckpointFormatError,
  decodeKeyed,
  decodeRefs,
  decodeTime,
  decodeWindows,
  decodeWorkload,
  encodeTime,
  encodeWindows,
  expectArray,
  expectNumber,
  expectObject,
  expectString,
  snapshotKeyed,
  stateVersion,
} from '../../enrich/checkpoint.js';
import { bucketFromArn } from '../../enrich/cloud-resources.js';
import { isObject, str } from '../../util/json.js';
import { bucketVerdict } from '../cloud/buckets.js';
import { type StorageUpload, storageUploads, storageUploadsInLine } from './cloud-cli.js';
import {
  clockTime,
  drainAwareWatermark,
  egressViewInto,
  formatBytes,
  formatSpan,
  newEgressView,
  workloadId,
  workloadIdCache,
  workloadLabel,
} from './common.js';

const MIN = 60_000;
const HOUR = 3_600_000;

const params = z
  .object({
    /** Event-time window over which bytes to cloud storage are summed (ms). */
    windowMs: z
      .number()
      .int()
      .positive()
      .default(10 * MIN),
    /** How long after its end a window still takes events (event time, ms). */
    allowedLatenessMs: z.number().int().nonnegative().default(0),
    /** A window is a large transfer from this many bytes sent to cloud-storage ranges (or reported by CloudTrail data events). */
    minBytes: z.number().positive().default(100_000_000),
    /** Cloud services (`destination.cloud.service`) that are storage. */
    storageServices: z.array(z.string().min(1)).default(['S3']),
    /** An upload command started up to this long before a window (and not known to have exited before it) can explain its bytes (ms). */
    lookbackMs: z
      .number()
      .int()
      .nonnegative()
      .default(30 * MIN),
    /** CloudTrail S3 data events that write objects. */
    writeOperations: z.array(z.string().min(1)).default(['PutObject', 'UploadPart', 'CreateMultipartUpload', 'CompleteMultipartUpload', 'PostObject']),
    /** Most workloads with upload commands remembered. */
    maxWorkloads: z.number().int().positive().default(50_000),
    /** Upload commands remembered per workload (the newest). */
    maxCommands: z.number().int().positive().default(16),
    /** Most (workload, window) cells open at once. */
    maxOpenWindows: z.number().int().positive().default(100_000),
    /** Evidence references per finding. */
    maxEvidence: z.number().int().positive().default(20),
  })
  .strict();

type Params = z.output<typeof params>;

type OwnerClass = 'foreign' | 'unknown';

/** Runtime or CloudTrail evidence that a workload (or principal) writes to a bucket that is not ours. */
interface Attribution {
  kind: 'command' | 'cloudtrail';
  time: number;
  /** Exit time of the command, when seen. */
  end?: number;
  execId?: string;
  upload: StorageUpload;
  owner: OwnerClass;
  account?: string;
  basis: string;
  ref: EventRef;
  /** Bytes reported by CloudTrail (`additionalEventData.bytesTransferredIn`). */
  bytes?: number;
  what: string;
}

interface Item {
  key: string;
  time: number;
  workload: WorkloadIdentity | undefined;
  event: OutflowEvent;
  flow?: { bytes: number; source: string; ref: EventRef; remote: string };
  trail?: Attribution;
}

interface Acc {
  workload: WorkloadIdentity | undefined;
  bySource: Record<string, number>;
  flows: { ref: EventRef; bytes: number }[];
  remotes: Set<string>;
  trail: Attribution[];
  trailBytes: number;
  lastTime: number;
}

const MAX_TRAIL = 32;
/** Remote addresses kept per window. */
const MAX_REMOTES = 16;

/**
 * 16. Large transfer to cloud storage of an account we do not own: bytes a
 * workload sends to cloud-storage ranges per window, attributed to a bucket
 * outside the organisation by runtime evidence (an upload command naming the
 * bucket, in the same workload) or by CloudTrail data events whose bucket owner
 * is foreign. Transfers to our own buckets (`organization.buckets`, or owners
 * learned from CloudTrail) are never findings.
 */
export const cloudStorageForeignTransfer = defineAnalytic<Params>({
  id: 'cloud_storage_foreign_transfer',
  title: 'Large transfer to cloud storage of an account we do not own',
  description:
    'A workload sends a large volume to cloud-storage ranges while an upload command in it (or CloudTrail data events) names a bucket that is not the organisation’s.',
  severity: 'high',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1567_002, ATTACK.T1530],
  kinds: ['network_flow', 'process_exec', 'runtime_alert', 'k8s_audit', 'cloud_api_call'],
  dataSources: [
    'Network flows with bytes and destination class (cloud ranges from AWS ip-ranges.json, service S3)',
    'Process executions with arguments (Tetragon, Falco proc.cmdline) or commands exec’d through the API (Kubernetes audit)',
    'AWS CloudTrail S3 data events (PutObject, UploadPart, ...)',
  ],
  dedupKeyDescription: 'workload (or principal) + destination bucket(s)',
  status: 'experimental',
  params,
  defaultExceptions: [],
  response: {
    investigate: [
      'Read the upload command (explanation.reasons) and who started it: an exec into the pod (pod_exec), a CronJob, an image entrypoint?',
      'Identify the bucket’s account (aws.s3.destination.account_id when known) and whether anyone in the organisation owns it.',
    ],
    contain: [
      'Kill the process or quarantine the pod; revoke the cloud credentials it used (IRSA role session, keys).',
      'Restrict the VPC endpoint policy or an SCP/RCP to buckets of the organisation (aws:ResourceOrgID).',
    ],
    analyse: ['List what was uploaded (the command’s source paths, CloudTrail data events of the bucket if it is reachable) and treat it as disclosed.'],
    remediate: ['Enforce aws:ResourceOrgID on s3:PutObject for workload roles; route storage traffic through a VPC endpoint with a restrictive policy.'],
  },
  create(env): Detection {
    const p = env.params;
    const storage = new Set(p.storageServices);
    const writes = new Set(p.writeOperations);
    const defaultCluster = env.config.cluster.name;
    const idOf = workloadIdCache(defaultCluster);
    return {
      id: env.detection.id,
      title: env.detection.title,
      kinds: ['network_flow', 'process_exec', 'runtime_alert', 'k8s_audit', 'cloud_api_call'],
      connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding> {
        return new Observable<Finding>((subscriber) => {
          const commands = new KeyedState<string, Attribution[]>({ maxKeys: p.maxWorkloads, ttlMs: Math.max(p.lookbackMs, HOUR) + p.windowMs * 2 });
          ctx.registerState('upload_commands', commands);
          let counter = 0;
          // Checkpointed: the upload commands remembered per workload (keyed by the cluster name, kept for the TTL), and the
          // open windows (bytes and CloudTrail writes so far: versioned by the window and by what routes an event into them).
          // A shutdown that keeps its state leaves the windows open; the resumed run completes them.
          const cluster = defaultCluster ?? null;
          ctx.registerCheckpoint('commands', {
            version: stateVersion('cloud_storage_foreign_transfer.commands/1', { ttlMs: commands.ttlMs, cluster }),
            snapshot: () => ({ counter, commands: snapshotKeyed(commands, (list) => list.map(encodeAttribution)) }),
            restore: (state) => {
              const s = expectObject(state, 'cloud_storage_foreign_transfer state');
              const savedCounter = expectNumber(s.counter, 'counter');
              const entries = decodeKeyed(
                s.commands,
                // The newest maxCommands per workload, as noteCommand keeps them.
                (raw, key) =>
                  expectArray(raw, `commands ${key}`)
                    .map((a, i) => decodeAttribution(a, `commands ${key}[${i}]`))
                    .slice(-p.maxCommands),
                'commands',
              );
              commands.restore(entries);
              counter = savedCounter;
            },
          });
          const windowsVersion = stateVersion('cloud_storage_foreign_transfer.windows/1', {
            windowMs: p.windowMs,
            storageServices: [...storage].sort(),
            writeOperations: [...writes].sort(),
            cluster,
          });
          const onWindows = (handle: WindowStateHandle<string, Acc>) =>
            ctx.registerCheckpoint('windows', {
              version: windowsVersion,
              snapshot: () => encodeWindows(handle, encodeAcc),
              restore: (state) => {
                const { snapshot, dropped } = decodeWindows(state, 'storage windows', p.maxOpenWindows, (raw, what) => decodeAcc(raw, what, p.maxEvidence));
                handle.restore(snapshot);
                if (dropped > 0) ctx.metrics.add('dropped', dropped, 'window_cap');
              },
            });

          const noteCommand = (key: string, a: Attribution) => {
            const list = commands.getOrCreate(key, a.time, () => []);
            if (a.execId && list.some((x) => x.execId === a.execId && x.upload.destination === a.upload.destination)) return;
            list.push(a);
            list.sort((x, y) => x.time - y.time);
            if (list.length > p.maxCommands) list.splice(0, list.length - p.maxCommands);
          };

          const commandAttributions = (e: OutflowEvent, argv: readonly string[] | undefined, line: string | undefined, execId: string | undefined): void => {
            const uploads = argv && argv.length > 0 ? storageUploads(argv) : line ? storageUploadsInLine(line) : [];
            if (uploads.length === 0) return;
            const key = workloadId(e.workload, defaultCluster);
            if (key === undefined) return;
            // Whose bucket it is is decided when a window is judged: bucket owners learned from CloudTrail by then count.
            for (const upload of uploads) {
              noteCommand(key, {
                kind: 'command',
                time: e.time,
                ...(execId ? { execId } : {}),
                upload,
                owner: 'unknown',
                basis: '',
                ref: eventRef(e),
                what: `${(argv ?? [line ?? '']).join(' ').slice(0, 300)}`,
              });
            }
          };

          /** Route each event: flows and CloudTrail writes into the windows, upload commands and process exits into the command memory. */
          const route = (e: OutflowEvent): Item | undefined => {
            if (++counter >= 4096) {
              counter = 0;
              commands.expire(e.time);
            }
            switch (e.kind) {
              case 'network_flow':
                return flowItem(e);
              case 'process_exec':
                return processItem(e);
              case 'runtime_alert':
                runtimeItem(e);
                return undefined;
              case 'k8s_audit':
                auditItem(e);
                return undefined;
              case 'cloud_api_call':
                return trailItem(e);
              default:
                return undefined;
            }
          };

          const view = newEgressView();
          const flowItem = (e: NetworkFlowEvent): Item | undefined => {
            if (!egressViewInto(e, view)) return undefined;
            const v = view;
            if (v.bytes <= 0 || v.remoteClass !== 'cloud' || v.service === undefined || !storage.has(v.service)) return undefined;
            const key = idOf(v.local);
            if (key === undefined) return undefined;
            return { key, time: e.time, workload: v.local, event: e, flow: { bytes: v.bytes, source: e.source, ref: eventRef(e), remote: v.remote.address } };
          };

          const processItem = (e: ProcessExecEvent): undefined => {
            const execId = e.process.execId;
            if (e.phase === 'exit') {
              if (!execId) return undefined;
              const key = workloadId(e.workload, defaultCluster);
              const list = key !== undefined ? commands.peek(key) : undefined;
              for (const a of list ?? []) if (a.execId === execId && a.end === undefined) a.end = e.time;
              return undefined;
            }
            commandAttributions(e, withProgram(e.process.args, e.process.executable), undefined, execId);
            return undefined;
          };

          const runtimeItem = (e: RuntimeAlertEvent): void => {
            const line = typeof e.fields['proc.cmdline'] === 'string' ? (e.fields['proc.cmdline'] as string) : undefined;
            if (e.process && e.process.args.length > 0) commandAttributions(e, withProgram(e.process.args, e.process.executable), undefined, e.process.execId);
            else if (line) commandAttributions(e, undefined, line, undefined);
          };

          const auditItem = (e: K8sAuditEvent): void => {
            if (!e.command || e.command.length === 0) return;
            if (e.objectRef?.subresource !== 'exec' || e.decision === 'forbid') return;
            commandAttributions(e, e.command, undefined, undefined);
          };

          const trailItem = (e: CloudApiCallEvent): Item | undefined => {
            if (e.service !== 's3.amazonaws.com' || !writes.has(e.operation) || e.errorCode) return undefined;
            const bucket = isObject(e.request) ? str(e.request.bucketName) : undefined;
            if (!bucket) return undefined;
            let declared: string | undefined;
            for (const r of e.resources ?? []) if (r.type === 'AWS::S3::Bucket' && r.accountId && bucketFromArn(r.arn) === bucket) declared = r.accountId;
            const verdict = bucketVerdict(env, bucket, declared, e.recipientAccountId ?? e.actor.accountId);
            if (verdict.class === 'ours' || verdict.class === 'partner') return undefined;
            // Without an owner named by the record, CloudTrail in our trail for a bucket we never saw is not proof: only a declared owner counts here.
            if (verdict.class === 'unknown') return undefined;
            const wid = workloadId(e.workload, defaultCluster);
            const principal = e.actor.arn ?? e.actor.principalId ?? e.actor.accountId ?? 'unknown';
            const key = wid ?? `principal:${principal}`;
            const raw = isObject(e.raw) ? e.raw : undefined;
            const extra = raw && isObject(raw.additionalEventData) ? raw.additionalEventData : undefined;
            const bytes = extra && typeof extra.bytesTransferredIn === 'number' ? extra.bytesTransferredIn : undefined;
            const objectKey = isObject(e.request) ? (str(e.request.key) ?? '') : '';
            const trail: Attribution = {
              kind: 'cloudtrail',
              time: e.time,
              upload: { tool: 'aws', provider: 'aws', bucket, destination: `s3://${bucket}/${objectKey}` },
              owner: 'foreign',
              ...(verdict.account ? { account: verdict.account } : {}),
              basis: verdict.basis,
              ref: eventRef(e),
              ...(bytes !== undefined ? { bytes } : {}),
              what: `${e.operation} s3://${bucket}/${objectKey} by ${principal}`,
            };
            return { key, time: e.time, workload: e.workload?.workloadName || e.workload?.pod ? e.workload : undefined, event: e, trail };
          };

          const judge = (w: WindowResult<string, Acc>): Finding | undefined => {
            const active: Attribution[] = [];
            for (const a of commands.peek(w.key) ?? []) {
              if (!(a.time <= w.end && (a.end !== undefined ? a.end >= w.start : a.time >= w.start - p.lookbackMs))) continue;
              const verdict = ownership(env, a.upload);
              if (verdict) active.push({ ...a, owner: verdict.owner, basis: verdict.basis, ...(verdict.account ? { account: verdict.account } : {}) });
            }
            return judgeWindow(env, w, active);
          };

          const input = drainAwareWatermark(events$, ctx.watermark$);
          const sub = input.events$
            .pipe(
              safeMap(route, (err, e) => ctx.reportError(err, e)),
              tumblingWindows<Item, string, Acc>({
                sizeMs: p.windowMs,
                allowedLatenessMs: p.allowedLatenessMs,
                maxOpenWindows: p.maxOpenWindows,
                watermark$: input.watermark$,
                key: (i) => i.key,
                create: () => ({
                  workload: undefined,
                  bySource: {},
                  flows: [],
                  remotes: new Set(),
                  trail: [],
                  trailBytes: 0,
                  lastTime: Number.NEGATIVE_INFINITY,
                }),
                add: (acc, i) => addItem(acc, i, p.maxEvidence),
                onLate: (i) => ctx.late(i.event, 'window_closed'),
                onDrop: (_i, reason) => ctx.metrics.add('dropped', 1, reason),
                onError: (err, i) => ctx.reportError(err, i.event),
                onState: onWindows,
              }),
              mergeMap((w) => {
                try {
                  const f = judge(w);
                  return f ? [f] : [];
                } catch (err) {
                  ctx.reportError(err, { window: w.key, start: w.start });
                  return [];
                }
              }),
            )
            .subscribe(subscriber);
          return () => sub.unsubscribe();
        });
      },
    };
  },
});

/** argv with the program first: sensors differ on whether argv[0] is included. */
function withProgram(args: readonly string[], executable: string): readonly string[] {
  const base = executable.slice(executable.lastIndexOf('/') + 1);
  const first = args[0];
  if (first !== undefined && (first === executable || first === base || first.endsWith(`/${base}`))) return args;
  return [executable, ...args];
}

/** Whose the destination of an upload is: undefined for our own (and partners’) storage. */
function ownership(env: AnalyticEnv<Params>, upload: StorageUpload): { owner: OwnerClass; account?: string; basis: string } | undefined {
  if (upload.provider === 'aws') {
    const v = bucketVerdict(env, upload.bucket, undefined, undefined);
    if (v.class === 'ours' || v.class === 'partner') return undefined;
    if (v.class === 'unknown') return { owner: 'unknown', basis: 'not in organization.buckets and no owner learned from CloudTrail' };
    return { owner: 'foreign', ...(v.account ? { account: v.account } : {}), basis: `owner ${v.account ?? '?'} ${v.basis} from CloudTrail` };
  }
  // Other providers: only the configured own-bucket names can say a bucket is ours.
  if (env.buckets.isConfiguredOwn(upload.bucket)) return undefined;
  return { owner: 'unknown', basis: `a ${upload.provider} destination not in organization.buckets` };
}

/** An attribution as plain data (a copy). */
function encodeAttribution(a: Attribution): Record<string, unknown> {
  return { ...a, upload: { ...a.upload }, ref: { ...a.ref } };
}

const UPLOAD_TOOLS: ReadonlySet<string> = new Set(['aws', 'gsutil', 'gcloud', 'azcopy', 'rclone', 's5cmd']);

function decodeAttribution(raw: unknown, what: string): Attribution {
  const v = expectObject(raw, what);
  const kind = v.kind;
  if (kind !== 'command' && kind !== 'cloudtrail') throw new CheckpointFormatError(`${what}.kind is neither command nor cloudtrail`);
  const owner = v.owner;
  if (owner !== 'foreign' && owner !== 'unknown') throw new CheckpointFormatError(`${what}.owner is neither foreign nor unknown`);
  const u = expectObject(v.upload, `${what}.upload`);
  const tool = expectString(u.tool, `${what}.upload.tool`);
  if (!UPLOAD_TOOLS.has(tool)) throw new CheckpointFormatError(`${what}.upload.tool is not an upload tool`);
  const [ref] = decodeRefs([v.ref], `${what}.ref`);
  const a: Attribution = {
    kind,
    time: expectNumber(v.time, `${what}.time`),
    upload: {
      tool: tool as StorageUpload['tool'],
      provider: expectString(u.provider, `${what}.upload.provider`),
      bucket: expectString(u.bucket, `${what}.upload.bucket`),
      destination: expectString(u.destination, `${what}.upload.destination`),
    },
    owner,
    basis: expectString(v.basis, `${what}.basis`),
    ref: ref as EventRef,
    what: expectString(v.what, `${what}.what`),
  };
  if (v.end !== undefined) a.end = expectNumber(v.end, `${what}.end`);
  if (v.execId !== undefined) a.execId = expectString(v.execId, `${what}.execId`);
  if (v.account !== undefined) a.account = expectString(v.account, `${what}.account`);
  if (v.bytes !== undefined) a.bytes = expectNumber(v.bytes, `${what}.bytes`);
  return a;
}

/** A window accumulator as plain data. */
interface EncodedAcc {
  workload: WorkloadIdentity | null;
  bySource: Record<string, number>;
  flows: [EventRef, number][];
  remotes: string[];
  trail: Record<string, unknown>[];
  trailBytes: number;
  lastTime: number | null;
}

function encodeAcc(acc: Acc): EncodedAcc {
  return {
    workload: acc.workload ? { ...acc.workload } : null,
    bySource: { ...acc.bySource },
    flows: acc.flows.map((f): [EventRef, number] => [{ ...f.ref }, f.bytes]),
    remotes: [...acc.remotes],
    trail: acc.trail.map(encodeAttribution),
    trailBytes: acc.trailBytes,
    lastTime: encodeTime(acc.lastTime),
  };
}

function decodeAcc(raw: unknown, what: string, maxEvidence: number): Acc {
  const v = expectObject(raw, what);
  const bySource: Record<string, number> = {};
  for (const [source, bytes] of Object.entries(expectObject(v.bySource, `${what} bytes`))) bySource[source] = expectNumber(bytes, `${what} bytes of ${source}`);
  const flows = expectArray(v.flows, `${what} flows`).map((f, k) => {
    const pair = expectArray(f, `${what} flow ${k}`);
    const [ref] = decodeRefs([pair[0]], `${what} flow ${k}`);
    return { ref: ref as EventRef, bytes: expectNumber(pair[1], `${what} flow ${k} bytes`) };
  });
  const remotes = expectArray(v.remotes, `${what} remotes`).map((r, k) => expectString(r, `${what} remote ${k}`));
  const trail = expectArray(v.trail, `${what} trail`).map((a, k) => decodeAttribution(a, `${what} trail ${k}`));
  return {
    workload: v.workload === null ? undefined : decodeWorkload(v.workload, `${what} workload`),
    bySource,
    flows: flows.slice(0, maxEvidence),
    remotes: new Set(remotes.slice(0, MAX_REMOTES)),
    trail: trail.slice(0, MAX_TRAIL),
    trailBytes: expectNumber(v.trailBytes, `${what} trail bytes`),
    lastTime: decodeTime(v.lastTime, Number.NEGATIVE_INFINITY, `${what} last time`),
  };
}

/** A workload identity read back from a checkpoint: string fields, and string labels. */

function addItem(acc: Acc, i: Item, maxEvidence: number): undefined {
  if (i.workload) acc.workload = i.workload;
  if (i.time > acc.lastTime) acc.lastTime = i.time;
  if (i.flow) {
    const f = i.flow;
    acc.bySource[f.source] = (acc.bySource[f.source] ?? 0) + f.bytes;
    if (acc.remotes.size < MAX_REMOTES) acc.remotes.add(f.remote);
    const ev = acc.flows;
    if (ev.length < maxEvidence || f.bytes > (ev[ev.length - 1] as { bytes: number }).bytes) {
      let k = ev.length;
      while (k > 0 && (ev[k - 1] as { bytes: number }).bytes < f.bytes) k--;
      ev.splice(k, 0, { ref: f.ref, bytes: f.bytes });
      if (ev.length > maxEvidence) ev.pop();
    }
  }
  if (i.trail) {
    acc.trailBytes += i.trail.bytes ?? 0;
    if (acc.trail.length < MAX_TRAIL) acc.trail.push(i.trail);
  }
  return undefined;
}

/** A closed window: its bytes, and the upload commands active in it that name storage not ours (`active`). */
function judgeWindow(env: AnalyticEnv<Params>, w: WindowResult<string, Acc>, active: readonly Attribution[]): Finding | undefined {
  const p = env.params;
  const acc = w.value;
  let flowBytes = 0;
  for (const v of Object.values(acc.bySource)) if (v > flowBytes) flowBytes = v;
  const attributions = [...active, ...acc.trail];
  if (attributions.length === 0) return undefined;
  const transferred = Math.max(flowBytes, acc.trailBytes);
  if (transferred < p.minBytes) return undefined;
  const buckets = [...new Set(attributions.map((a) => `${a.upload.provider === 'aws' ? 's3' : a.upload.provider}://${a.upload.bucket}`))].sort();
  const confirmed = attributions.find((a) => a.owner === 'foreign' && a.account);
  const who = w.key.startsWith('principal:') ? w.key.slice('principal:'.length) : workloadLabel(w.key);
  const window = `${clockTime(w.start)}–${clockTime(w.end)} UTC`;
  const via =
    flowBytes >= acc.trailBytes
      ? `${formatBytes(flowBytes)} sent to cloud-storage ranges (${Object.entries(acc.bySource)
          .map(([s, b]) => `${s} ${formatBytes(b)}`)
          .join(', ')})`
      : `${formatBytes(acc.trailBytes)} written according to CloudTrail data events`;
  const owners = confirmed
    ? `account ${confirmed.account}, outside the organisation`
    : 'an owner that is not the organisation (not in organization.buckets, no owner of ours learned)';
  const reasons = attributions
    .slice(0, 10)
    .map((a) => `${a.kind === 'command' ? 'command' : 'CloudTrail'} at ${new Date(a.time).toISOString()}: ${a.what} → ${a.upload.bucket} (${a.basis})`);
  const attributes: Record<string, AttributeValue> = {
    'aws.s3.destination.bucket': buckets.map((b) => b.replace(/^[a-z0-9:]+:\/\//, '')),
    'outflow.storage.destinations': buckets,
    'outflow.storage.bytes': Math.round(transferred),
    'outflow.storage.owner': confirmed ? 'foreign' : 'unknown',
    'outflow.egress.window.start': new Date(w.start).toISOString(),
    'outflow.egress.window.end': new Date(w.end).toISOString(),
  };
  if (confirmed?.account) attributes['aws.s3.destination.account_id'] = confirmed.account;
  if (!w.key.startsWith('principal:')) attributes['outflow.workload.id'] = w.key;
  else attributes['user.id'] = w.key.slice('principal:'.length);
  const evidence: EventRef[] = [];
  const seen = new Set<string>();
  for (const ref of [...attributions.map((a) => a.ref), ...acc.flows.map((f) => f.ref)]) {
    const k = `${ref.source}\u0000${ref.id}`;
    if (seen.has(k) || evidence.length >= p.maxEvidence) continue;
    seen.add(k);
    evidence.push(ref);
  }
  return {
    detection: env.detection,
    severity: confirmed ? adjustSeverity(env.severity, 1) : env.severity,
    time: Number.isFinite(acc.lastTime) ? acc.lastTime : w.end - 1,
    ...(acc.workload ? { workload: acc.workload } : {}),
    evidence,
    dedupKey: `${w.key}|${buckets.join(',')}`,
    explanation: {
      summary: `${who} transferred ${formatBytes(transferred)} in ${formatSpan(p.windowMs)} (${window}) to cloud storage of ${owners}: ${buckets.join(', ')}.`,
      observed: `${via}, while ${attributions.length === 1 ? 'an upload' : `${attributions.length} uploads`} named ${buckets.join(', ')}`,
      expected: `large transfers only to buckets of the organisation (organization.buckets or owners learned from CloudTrail); threshold ${formatBytes(p.minBytes)} per ${formatSpan(p.windowMs)}`,
      reasons,
    },
    attributes,
    tags: ['t1537', 'network', 'cloud_storage', confirmed ? 'foreign_owner' : 'unknown_owner'],
    response: env.response,
  };
}
