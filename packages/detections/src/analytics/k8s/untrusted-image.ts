import {
  type AttributeValue,
  type DetectionContext,
  type EventRef,
  eventRef,
  type Finding,
  type K8sAuditEvent,
  KeyedState,
  type OutflowEvent,
  type Severity,
  safeMap,
  type WorkloadIdentity,
  workloadAttributes,
  z,
} from '@outflow/core';
import type { Observable } from 'rxjs';
import { ATTACK, adjustSeverity, defineAnalytic } from '../../analytic.js';
import { classifyArgv } from '../../classify/payload.js';
import { basename } from '../../classify/shell.js';
import {
  decodeKeyed,
  decodeKeySet,
  decodeRefs,
  decodeTime,
  encodeTime,
  expectNumber,
  expectObject,
  expectString,
  expectStrings,
  snapshotKeyed,
  snapshotKeySet,
  stateVersion,
} from '../../enrich/checkpoint.js';
import { isSelfTraffic } from '../../enrich/destination-class.js';
import { asArray, isObject, str } from '../../util/json.js';
import {
  argvOf,
  auditAttributes,
  auditSucceeded,
  completeFinding,
  destinationClassOf,
  effectiveUser,
  OnceSet,
  processOf,
  runtimeAttributes,
  usableStage,
} from './common.js';

const params = z
  .object({
    /** Path prefixes where secrets are mounted. */
    secretPaths: z.array(z.string().min(1)).default(['/var/run/secrets/', '/run/secrets/']),
    /** Cloud range services (`destination.cloud.service` of the destination class enricher) that are storage. */
    storageServices: z.array(z.string().min(1)).default(['S3']),
    /** Cloud API services (CloudTrail `eventSource`) that are storage. */
    storageApis: z.array(z.string().min(1)).default(['s3.amazonaws.com', 'storage.googleapis.com']),
    /** A pod is reported once per kind of access in this much event time. */
    repeatAfterMs: z.number().int().positive().default(3_600_000),
    /** Attribute a secret read through the API to untrusted pods running as the calling service account when the audit record names no pod. */
    serviceAccountAttribution: z.boolean().default(true),
    /** Most untrusted pods remembered from the audit log. */
    maxPods: z.number().int().positive().default(10_000),
  })
  .strict();

type Params = z.output<typeof params>;

type Access = 'secret_file' | 'secret_api' | 'cloud_storage';

/** An untrusted pod seen created in the audit log. */
interface UntrustedPod {
  key: string;
  namespace: string;
  name: string;
  images: string[];
  serviceAccount: string;
  creator: string;
  ref: EventRef;
}

function decodeUntrustedPod(raw: unknown, key: string): UntrustedPod {
  const v = expectObject(raw, `pod ${key}`);
  const [ref] = decodeRefs([v.ref], `pod ${key}.ref`);
  return {
    key: expectString(v.key, `pod ${key}.key`),
    namespace: expectString(v.namespace, `pod ${key}.namespace`),
    name: expectString(v.name, `pod ${key}.name`),
    images: expectStrings(v.images, `pod ${key}.images`),
    serviceAccount: expectString(v.serviceAccount, `pod ${key}.serviceAccount`),
    creator: expectString(v.creator, `pod ${key}.creator`),
    ref: ref as EventRef,
  };
}

const CLOUD_CLIS = new Set(['aws', 'gsutil', 'gcloud', 'azcopy', 'rclone', 's3cmd', 'curl', 'wget']);

/**
 * 13. A pod whose image is not trusted touches what the strategy protects:
 * reads a mounted secret (file access, or a command naming the path), reads
 * secrets through the API with its service account, or calls cloud storage
 * (a flow to a storage range, a storage API call from its address, a cloud
 * CLI copy). Checkpointed: `pods` (untrusted pods learned from the audit
 * log, their service accounts, what was already reported; versioned by the
 * image trust configuration, the cluster name and the TTLs) and `audit_ids`.
 */
export const untrustedImageSensitiveAccess = defineAnalytic({
  id: 'untrusted_image_sensitive_access',
  title: 'Untrusted image touching secrets or cloud storage',
  description: 'A container whose image does not come from a trusted registry (or digest) reads secrets or talks to cloud storage.',
  severity: 'high',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1552_007, ATTACK.T1530, ATTACK.T1567_002],
  kinds: ['k8s_audit', 'file_access', 'process_exec', 'runtime_alert', 'network_flow', 'cloud_api_call'],
  dataSources: [
    'Image trust (images.trustedRegistries / trustedDigests) and workload identity (inventory, pod watch, audit pod events)',
    'Tetragon file and socket kprobes, process execs; Falco alerts',
    'Kubernetes audit log (secrets read by service accounts; pod creation)',
    'Flow records classified by the destination class enricher (cloud ranges); CloudTrail S3 calls from pod addresses',
  ],
  dedupKeyDescription: 'cluster/namespace/pod + kind of access (secret_file, secret_api, cloud_storage)',
  status: 'experimental',
  params,
  defaultExceptions: [],
  response: {
    investigate: [
      'Who started the pod (k8s.pod.creator) and from which image (container.image.name): a debugging session, a vendor tool, or an unknown image?',
      'What it touched: the secret path or name, or the storage destination; read the pod’s other alerts (exec_payload, pod_exec, egress).',
    ],
    contain: ['Delete the pod (or cut its egress); rotate the secrets its service account can read; revoke its cloud role if it has one (IRSA).'],
    analyse: ['Pull the image and inspect it; list every call its service account and cloud role made since it started.'],
    remediate: ['Enforce image provenance at admission (registry allow-list, signature verification); give service accounts only the secrets they need.'],
  },
  create(env) {
    const p = env.params as Params;
    const destination = destinationClassOf(env);
    const secretPrefixes = p.secretPaths;
    const storageServices = new Set(p.storageServices);
    const storageApis = new Set(p.storageApis);
    const isSecretPath = (path: string) => secretPrefixes.some((prefix) => path === prefix.replace(/\/$/, '') || path.startsWith(prefix));
    return {
      id: env.detection.id,
      title: env.detection.title,
      kinds: ['k8s_audit', 'file_access', 'process_exec', 'runtime_alert', 'network_flow', 'cloud_api_call'],
      connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding> {
        const ttl = env.config.limits.ttlMs;
        const pods = new KeyedState<string, UntrustedPod>({ maxKeys: p.maxPods, ttlMs: ttl });
        const bySa = new KeyedState<string, Set<string>>({ maxKeys: p.maxPods, ttlMs: ttl });
        const reported = new KeyedState<string, true>({ maxKeys: p.maxPods * 4, ttlMs: p.repeatAfterMs });
        const once = new OnceSet();
        ctx.registerState('untrusted_image.pods', pods);
        ctx.registerState('untrusted_image.service_accounts', bySa);
        ctx.registerState('untrusted_image.reported', reported);
        let sweep = 0;
        let clock = Number.NEGATIVE_INFINITY;
        ctx.registerCheckpoint('pods', {
          // Which pods are remembered depends on the trust configuration; keys on the cluster name; lifetimes on the TTLs.
          version: stateVersion('untrusted_image_sensitive_access.pods/1', {
            images: { trustedRegistries: [...env.config.images.trustedRegistries].sort(), trustedDigests: [...env.config.images.trustedDigests].sort() },
            cluster: env.config.cluster.name ?? null,
            ttlMs: ttl,
            repeatAfterMs: p.repeatAfterMs,
          }),
          snapshot: () => ({
            sweep,
            clock: encodeTime(clock),
            pods: snapshotKeyed(pods, (v) => ({ ...v, images: [...v.images], ref: { ...v.ref } })),
            serviceAccounts: snapshotKeyed(bySa, (keys) => [...keys]),
            reported: snapshotKeySet(reported),
          }),
          restore: (state) => {
            const s = expectObject(state, 'untrusted_image_sensitive_access state');
            const podEntries = decodeKeyed(s.pods, decodeUntrustedPod, 'pods');
            const saEntries = decodeKeyed(s.serviceAccounts, (raw, key) => new Set(expectStrings(raw, `service account ${key}`)), 'serviceAccounts');
            const reportedEntries = decodeKeySet(s.reported, 'reported');
            const savedSweep = expectNumber(s.sweep, 'sweep');
            const savedClock = decodeTime(s.clock, Number.NEGATIVE_INFINITY, 'clock');
            pods.restore(podEntries);
            bySa.restore(saEntries);
            reported.restore(reportedEntries);
            sweep = savedSweep;
            clock = savedClock;
          },
        });
        ctx.registerCheckpoint('audit_ids', once.checkpoint('untrusted_image_sensitive_access'));

        const cluster = (w: WorkloadIdentity | undefined, event?: OutflowEvent) =>
          w?.cluster ?? (event?.attributes?.['k8s.cluster.name'] as string | undefined) ?? env.config.cluster.name ?? '';

        /** Trust of the event's workload: the enricher's verdict, else the image, else what the audit log told about the pod. */
        const untrusted = (event: OutflowEvent): { image: string; pod?: UntrustedPod } | undefined => {
          const w = event.workload;
          // No untrusted pod learned yet (the usual case): no key to build and look up.
          const key = pods.size > 0 && w?.pod && w.namespace ? `${cluster(w, event)}/${w.namespace}/${w.pod}` : undefined;
          const known = key ? pods.peek(key) : undefined;
          const attr = event.attributes?.['container.image.trusted'];
          const trusted = typeof attr === 'boolean' ? attr : env.images.isTrusted(w?.image, w?.imageDigest);
          if (trusted === true) return undefined;
          if (trusted === false) return { image: w?.image ?? w?.imageDigest ?? 'unknown image', ...(known ? { pod: known } : {}) };
          return known ? { image: known.images.join(', '), pod: known } : undefined;
        };

        const finding = (
          event: OutflowEvent,
          access: Access,
          podKey: string,
          workload: WorkloadIdentity | undefined,
          image: string,
          known: UntrustedPod | undefined,
          what: string,
          extra: Record<string, AttributeValue>,
          severity: Severity = env.severity,
          reasons: string[] = [],
        ): Finding | undefined => {
          const guard = `${podKey}|${access}`;
          if (reported.has(guard)) {
            ctx.metrics.add('dropped', 1, 'repeat');
            return undefined;
          }
          reported.set(guard, true, event.time);
          const evidence = known ? [known.ref, eventRef(event)] : [eventRef(event)];
          const podName = podKey.split('/').slice(1).join('/');
          return completeFinding(env, event, {
            severity,
            dedupKey: guard,
            evidence,
            ...(workload ? { workload } : {}),
            explanation: {
              summary: `Pod ${podName} runs the untrusted image ${image} and ${what}.`,
              observed: what,
              expected: 'only images from trusted registries (or trusted digests) read secrets or reach cloud storage',
              reasons: [
                `image ${image} is not under a trusted registry nor a trusted digest`,
                ...(known ? [`the pod was created by ${known.creator}`] : []),
                ...reasons,
              ],
            },
            attributes: {
              ...workloadAttributes(workload),
              'container.image.name': image,
              'container.image.trusted': false,
              'untrusted.access': access,
              ...(known ? { 'k8s.pod.creator': known.creator } : {}),
              ...extra,
            },
            tags: ['t1537', 'kubernetes', 'untrusted_image', access],
          });
        };

        /** Pod creations: remember pods with untrusted images, their service account and who created them. */
        const learnPod = (event: K8sAuditEvent) => {
          const obj = isObject(event.responseObject) && isObject(event.responseObject.spec) ? event.responseObject : event.requestObject;
          if (!isObject(obj) || !isObject(obj.spec)) return;
          const md = isObject(obj.metadata) ? obj.metadata : {};
          const name = str(md.name) ?? event.objectRef?.name;
          const namespace = str(md.namespace) ?? event.objectRef?.namespace;
          if (!name || !namespace) return;
          const images: string[] = [];
          for (const list of [obj.spec.containers, obj.spec.initContainers, obj.spec.ephemeralContainers])
            for (const c of asArray(list)) {
              const image = isObject(c) ? str(c.image) : undefined;
              if (image && env.images.isTrusted(image) === false && !images.includes(image)) images.push(image);
            }
          if (images.length === 0) return;
          const key = `${cluster(event.workload, event)}/${namespace}/${name}`;
          const serviceAccount = str(obj.spec.serviceAccountName) ?? str(obj.spec.serviceAccount) ?? 'default';
          pods.set(key, { key, namespace, name, images, serviceAccount, creator: effectiveUser(event), ref: eventRef(event) }, event.time);
          const saKey = `${namespace}/${serviceAccount}`;
          const set = bySa.get(saKey, event.time) ?? new Set<string>();
          if (set.size < 64) set.add(key);
          bySa.set(saKey, set, event.time);
        };

        const onAudit = (event: K8sAuditEvent): Finding | Finding[] | undefined => {
          const ref = event.objectRef;
          if (!usableStage(event) || !auditSucceeded(event)) return undefined;
          if (ref?.resource === 'pods' && ref.subresource === undefined && event.verb === 'create') {
            learnPod(event);
            return undefined;
          }
          if (ref?.resource !== 'secrets' || (event.verb !== 'get' && event.verb !== 'list' && event.verb !== 'watch')) return undefined;
          if (!once.first(event.auditId, event.time)) return undefined;
          const user = effectiveUser(event);
          const secret = ref.name ? `${ref.namespace ?? ''}/${ref.name}` : `${ref.namespace ?? '*'}/*`;
          const attrs = { ...auditAttributes(event), 'k8s.secret.name': secret };
          const c = cluster(undefined, event);
          // The calling pod, named by the token (bound service-account token) or found from the source address.
          const actorPod = event.attributes?.['k8s.audit.actor.pod.name'];
          const actorNs =
            (event.attributes?.['k8s.audit.actor.namespace.name'] as string | undefined) ??
            (user.startsWith('system:serviceaccount:') ? user.split(':')[2] : undefined);
          if (typeof actorPod === 'string' && actorNs) {
            const key = `${c}/${actorNs}/${actorPod}`;
            const identity = env.workloads.byPod(c || undefined, actorNs, actorPod, event.time);
            const known = pods.peek(key);
            const actorImage = (event.attributes?.['k8s.audit.actor.container.image.name'] as string | undefined) ?? identity?.image;
            const trusted = actorImage ? env.images.isTrusted(actorImage, identity?.imageDigest) : undefined;
            if (trusted === true || (trusted === undefined && !known)) return undefined;
            const image = actorImage ?? known?.images.join(', ') ?? 'unknown image';
            return finding(
              event,
              'secret_api',
              key,
              identity ?? { cluster: c, namespace: actorNs, pod: actorPod },
              image,
              known,
              `read secret ${secret} through the API as ${user}`,
              attrs,
            );
          }
          if (!p.serviceAccountAttribution || !user.startsWith('system:serviceaccount:')) return undefined;
          const [, , ns, sa] = user.split(':');
          const candidates = bySa.peek(`${ns}/${sa}`);
          if (!candidates || candidates.size === 0) return undefined;
          const out: Finding[] = [];
          for (const key of candidates) {
            const known = pods.peek(key);
            if (!known) continue;
            const f = finding(
              event,
              'secret_api',
              key,
              { cluster: c, namespace: known.namespace, pod: known.name },
              known.images.join(', '),
              known,
              `may have read secret ${secret} through the API: ${user} made the call and this pod runs as that service account`,
              { ...attrs, 'untrusted.attribution': 'service_account' },
              adjustSeverity(env.severity, -1),
              ['attributed by service account only: the audit record names no pod, and other pods may share the account'],
            );
            if (f) out.push(f);
          }
          return out;
        };

        const onRuntime = (event: OutflowEvent): Finding | undefined => {
          const u = untrusted(event);
          if (!u) return undefined;
          const w = event.workload;
          const podKey =
            w?.pod && w.namespace
              ? `${cluster(w, event)}/${w.namespace}/${w.pod}`
              : w?.containerId
                ? `${cluster(w, event)}/container/${w.containerId.slice(0, 12)}`
                : undefined;
          if (!podKey) return undefined;
          const process = processOf(event);
          if (event.kind === 'file_access') {
            if (!isSecretPath(event.path) || (event.operation !== 'open' && event.operation !== 'read' && event.operation !== 'other')) return undefined;
            const by = process ? ` (${basename(process.executable)})` : '';
            return finding(event, 'secret_file', podKey, w, u.image, u.pod, `read the mounted secret ${event.path}${by}`, {
              ...runtimeAttributes(event, process),
              'file.path': event.path,
            });
          }
          if (event.kind === 'runtime_alert') {
            const path = event.attributes?.['file.path'];
            if (typeof path === 'string' && isSecretPath(path))
              return finding(event, 'secret_file', podKey, w, u.image, u.pod, `read the mounted secret ${path} (${event.engine} rule "${event.rule}")`, {
                ...runtimeAttributes(event, process),
                'file.path': path,
              });
          }
          if (event.kind === 'network_flow') {
            if (event.direction === 'ingress' || isSelfTraffic(event)) return undefined;
            const service = event.attributes?.['destination.cloud.service'];
            if (event.attributes?.['destination.class'] !== 'cloud' || typeof service !== 'string' || !storageServices.has(service)) return undefined;
            return finding(
              event,
              'cloud_storage',
              podKey,
              w,
              u.image,
              u.pod,
              `connected to cloud storage (${service}) at ${event.dst.address}:${event.dst.port ?? '?'}`,
              {
                ...runtimeAttributes(event, process),
                'destination.address': event.dst.address,
                ...(event.dst.port !== undefined ? { 'destination.port': event.dst.port } : {}),
                'destination.cloud.service': service,
              },
            );
          }
          if (!process || (event.kind === 'process_exec' && event.phase !== 'exec')) return undefined;
          const argv = argvOf(process);
          const secretArg = argv.slice(1).find((a) => isSecretPath(a));
          if (secretArg)
            return finding(
              event,
              'secret_file',
              podKey,
              w,
              u.image,
              u.pod,
              `ran \`${argv.join(' ').slice(0, 200)}\`, which reads the mounted secret ${secretArg}`,
              runtimeAttributes(event, process),
            );
          if (!CLOUD_CLIS.has(basename(process.executable)) && !CLOUD_CLIS.has(basename(argv[0] as string))) return undefined;
          const result = classifyArgv(argv, { splitArgs: true, destination });
          const copy = result.matches.find((m) => m.category === 'cloud_copy' || (m.category === 'upload' && m.bucket));
          if (!copy) return undefined;
          return finding(event, 'cloud_storage', podKey, w, u.image, u.pod, `copied data to cloud storage: ${copy.explanation}`, {
            ...runtimeAttributes(event, process),
            ...(copy.bucket ? { 'exec.payload.bucket': copy.bucket.name } : {}),
          });
        };

        const onCloudCall = (event: Extract<OutflowEvent, { kind: 'cloud_api_call' }>): Finding | undefined => {
          if (!storageApis.has(event.service) || event.errorCode) return undefined;
          const u = untrusted(event);
          const w = event.workload;
          if (!u || !w?.pod || !w.namespace) return undefined;
          const podKey = `${cluster(w, event)}/${w.namespace}/${w.pod}`;
          const bucket = isObject(event.request) ? str(event.request.bucketName) : undefined;
          return finding(
            event,
            'cloud_storage',
            podKey,
            w,
            u.image,
            u.pod,
            `called ${event.service} ${event.operation}${bucket ? ` on bucket ${bucket}` : ''} from its address ${event.sourceIp ?? ''}`.trim(),
            {
              'rpc.service': event.service,
              'rpc.method': event.operation,
              ...(bucket ? { 'aws.s3.bucket': bucket } : {}),
              ...(event.actor.arn ? { 'user.id': event.actor.arn } : {}),
            },
          );
        };

        return events$.pipe(
          safeMap<OutflowEvent, Finding>(
            (event) => {
              if (event.time > clock) clock = event.time;
              if (++sweep >= 4096) {
                sweep = 0;
                pods.expire(clock);
                bySa.expire(clock);
                reported.expire(clock);
              }
              if (event.kind === 'k8s_audit') return onAudit(event);
              if (event.kind === 'cloud_api_call') return onCloudCall(event);
              return onRuntime(event);
            },
            (err, event) => ctx.reportError(err, event),
          ),
        );
      },
    };
  },
});
