import {
  type AttributeValue,
  type DetectionContext,
  type EventRef,
  eventRef,
  type Finding,
  type K8sAuditEvent,
  KeyedState,
  type NetworkFlowEvent,
  type OutflowEvent,
  type ProcessInfo,
  SEVERITIES,
  type Severity,
  z,
} from '@outflow/core';
import { Observable } from 'rxjs';
import { ATTACK, adjustSeverity, defineAnalytic } from '../../analytic.js';
import { type ClassifyOptions, classifyArgv, type PayloadClassification, type PayloadMatch } from '../../classify/payload.js';
import { basename } from '../../classify/shell.js';
import { reachOf, sensitivePathOf } from '../../classify/targets.js';
import {
  CheckpointFormatError,
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
import { OrderBuffer } from '../ordered.js';
import {
  argvOf,
  auditAttributes,
  auditSucceeded,
  auditTarget,
  bucketOwnerOf,
  completeFinding,
  destinationClassOf,
  effectiveUser,
  OnceSet,
  podKey,
  processOf,
  runtimeAttributes,
  runtimePodKey,
  shiftSeverity,
  usableStage,
} from './common.js';

const severityEnum = z.enum(SEVERITIES as [Severity, ...Severity[]]);

const params = z
  .object({
    /** Findings below this severity (after adjustments) are dropped and counted (`dropped{reason=below_min_severity}`). */
    minSeverity: severityEnum.default('low'),
    /** Report shells with a terminal started in containers (the runtime side of `kubectl exec -it`). */
    runtimeShells: z.boolean().default(true),
    /**
     * A cloud copy to a bucket whose owner is not known yet waits this long
     * (event time) for the owner to be learned from CloudTrail before it is
     * judged. 0 judges at once.
     */
    bucketOwnerWaitMs: z.number().int().min(0).default(600_000),
    /** Most findings waiting for a bucket owner; past it the oldest is judged at once. */
    maxPending: z.number().int().positive().default(10_000),
    /** How long (event time) a destination named in a command is watched for a connection from the same pod. */
    contactWindowMs: z.number().int().positive().default(3_600_000),
    /** Most (pod, destination) pairs watched at once. */
    maxContacts: z.number().int().positive().default(50_000),
    /** Most processes whose connections were already classified (Tetragon flows repeat per send). */
    maxFlowProcesses: z.number().int().positive().default(50_000),
  })
  .strict();

type Params = z.output<typeof params>;

/** Programs whose connection to the metadata service is someone at a keyboard (or a script), not an SDK. */
const METADATA_TOOLS = new Set(['curl', 'wget', 'nc', 'ncat', 'netcat', 'socat', 'telnet', 'http', 'busybox']);

/** Who ran a command, where, and the attributes its finding carries. */
interface Origin {
  source: string;
  user?: string;
  /** `cluster/namespace/pod` (or `cluster/container/<id>`). */
  pod: string;
  attributes: Record<string, AttributeValue>;
  commandLine: string;
  extra?: Partial<Record<string, AttributeValue>>;
  /** Watch the destinations the command names for a later connection (not for classifications of a connection itself). */
  watch: boolean;
}

/** The classifier options of a command, by what chooses them (so a pending command can be checkpointed as data). */
interface OptionKey {
  tty?: boolean;
  stdin?: boolean;
  splitArgs: boolean;
  shells: boolean;
  account?: string;
}

/** A command waiting for its bucket's owner to be learned, until event time `time` (its due time). */
interface Pending {
  time: number;
  event: OutflowEvent;
  argv: string[];
  options: OptionKey;
  /** Where it was seen: an exec through the API (audit) or a process (runtime); the finding's origin is rebuilt from the event. */
  origin: 'audit' | 'process';
}

interface Contact {
  time: number;
  /** A connection without bytes was already reported; a later one with bytes raises it. */
  confirmed: boolean;
  severity: Severity;
  command: string;
  categories: readonly string[];
  ref: EventRef;
}

function rank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

const NO_HOSTS: readonly string[] = [];

/**
 * 11. The exec payload classifier applied to commands exec'd through the API
 * (audit), to processes started in containers (Tetragon, Falco) and to the
 * connections those processes open (Tetragon): reverse shells, uploads, cloud
 * CLI copies, network and copy tools, archiving, sensitive reads and instance
 * metadata access. A destination a command names is then watched: a flow from
 * the same pod to it confirms the transfer. Checkpointed: `contacts` (watched
 * destinations and the processes whose connections were classified,
 * versioned by the contact window), `pending` (commands waiting for a bucket
 * owner) and `audit_ids`.
 */
export const execPayload = defineAnalytic({
  id: 'exec_payload',
  title: 'Exec payload: reverse shells, uploads, cloud copies, sensitive reads',
  description:
    'Classifies command lines run in containers (exec through the API, processes seen at runtime) and reports those that send data out, open shells to remote hosts, read credentials or reach the metadata service.',
  severity: 'medium',
  attack: ATTACK.T1537,
  relatedAttack: [
    ATTACK.T1609,
    ATTACK.T1048,
    ATTACK.T1567,
    { technique: 'T1105', techniqueName: 'Ingress Tool Transfer', tactic: 'TA0011', tacticName: 'Command and Control' },
    { technique: 'T1560', techniqueName: 'Archive Collected Data', tactic: 'TA0009', tacticName: 'Collection' },
    ATTACK.T1552_007,
    { technique: 'T1552.005', techniqueName: 'Unsecured Credentials: Cloud Instance Metadata API', tactic: 'TA0006', tacticName: 'Credential Access' },
  ],
  kinds: ['k8s_audit', 'process_exec', 'runtime_alert', 'network_flow'],
  dataSources: [
    'Kubernetes API server audit log (pods/exec commands)',
    'Tetragon process_exec events and socket kprobes with their process',
    'Falco alerts with the process command line',
    'Flow records (VPC flow logs, Hubble, Tetragon) to confirm contact with a named destination',
  ],
  dedupKeyDescription:
    'cluster/namespace/pod + categories + matched commands (audit and runtime sightings of one command fold together); contact confirmations: pod + destination',
  status: 'test',
  params,
  defaultExceptions: [
    {
      id: 'cloud-copy-to-own-bucket',
      match: {
        'attributes.exec.payload.categories': 'cloud_copy',
        'attributes.exec.payload.bucket.ownership': ['ours', 'partner'],
      },
      reason:
        'A cloud CLI copying to a bucket the organisation owns (organization.buckets, or an owner account learned from CloudTrail that is ours or a trusted partner) is a backup or a sync, not exfiltration. Only findings whose every category is cloud_copy are covered.',
      owner: 'outflow',
    },
  ],
  response: {
    investigate: [
      'Read the matched commands and explanations (exec.payload.commands, explanation.reasons); find who started them: the pod_exec alert (audit) or the parent process (runtime).',
      'For transfers: the destination (destination.address, destination.class) and whether a flow confirmed contact (a "contacted" alert for the same pod).',
    ],
    contain: [
      'Block the destination with a NetworkPolicy (or the quarantine exporter) and stop the process or the pod.',
      'Rotate any credential the commands read (service-account token, cloud keys, kubeconfig).',
    ],
    analyse: ['Size what left: flow bytes from the pod to the destination; the files named by the archive and upload commands.'],
    remediate: [
      'Remove shells, curl, netcat and archivers from production images; restrict egress to known destinations; block IMDS from pods (hop limit 1, IRSA/workload identity).',
    ],
  },
  create(env) {
    const p = env.params as Params;
    const minRank = rank(p.minSeverity);
    const destination = destinationClassOf(env);
    return {
      id: env.detection.id,
      title: env.detection.title,
      kinds: ['k8s_audit', 'process_exec', 'runtime_alert', 'network_flow'],
      connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding> {
        return new Observable<Finding>((subscriber) => {
          const once = new OnceSet();
          const contacts = new KeyedState<string, Contact>({ maxKeys: p.maxContacts, ttlMs: p.contactWindowMs });
          const flowProcesses = new KeyedState<string, true>({ maxKeys: p.maxFlowProcesses, ttlMs: 3_600_000 });
          // Commands waiting for a bucket owner, released in due order by the watermark; when full the earliest is judged at once.
          const pending = new OrderBuffer<Pending>({ maxBuffer: p.maxPending });
          ctx.registerState('exec_payload.audit_ids', once);
          ctx.registerState('exec_payload.contacts', contacts);
          ctx.registerState('exec_payload.flow_processes', flowProcesses);
          ctx.registerState('exec_payload.pending', pending);
          let sweep = 0;
          let clock = Number.NEGATIVE_INFINITY;
          ctx.registerCheckpoint('audit_ids', once.checkpoint('exec_payload'));
          ctx.registerCheckpoint('contacts', {
            // Destinations named by commands, watched for a connection from the same pod; which classes are watched is fixed, the window is not.
            version: stateVersion('exec_payload.contacts/1', { contactWindowMs: p.contactWindowMs, cluster: env.config.cluster.name ?? null }),
            snapshot: () => ({
              sweep,
              clock: encodeTime(clock),
              contacts: snapshotKeyed(contacts, (c) => ({ ...c, categories: [...c.categories], ref: { ...c.ref } })),
              flowProcesses: snapshotKeySet(flowProcesses),
            }),
            restore: (state) => {
              const s = expectObject(state, 'exec_payload state');
              const contactEntries = decodeKeyed(s.contacts, decodeContact, 'contacts');
              const processEntries = decodeKeySet(s.flowProcesses, 'flowProcesses');
              const savedSweep = expectNumber(s.sweep, 'sweep');
              const savedClock = decodeTime(s.clock, Number.NEGATIVE_INFINITY, 'clock');
              contacts.restore(contactEntries);
              flowProcesses.restore(processEntries);
              sweep = savedSweep;
              clock = savedClock;
            },
          });
          // Pending commands are events the receivers were told were processed: kept whatever the config (layout version only).
          ctx.registerCheckpoint('pending', pending.checkpoint({ decode: decodePending }));

          const emit = (f: Finding) => subscriber.next(f);

          const report = (event: OutflowEvent, result: PayloadClassification, who: Origin) => {
            if (result.matches.length === 0 || result.severity === undefined) return;
            const severity = shiftSeverity(result.severity, env, 'medium');
            if (rank(severity) < minRank) {
              ctx.metrics.add('dropped', 1, 'below_min_severity');
              return;
            }
            const top = result.matches[0] as PayloadMatch;
            const withDest = result.matches.find((m) => m.destination !== undefined);
            const withBucket = result.matches.find((m) => m.bucket !== undefined);
            const commands = [...new Set(result.matches.map((m) => m.command))];
            // who.attributes is built for this finding alone: completed in place.
            const attributes = who.attributes;
            attributes['process.command_line'] = who.commandLine.length > 2048 ? who.commandLine.slice(0, 2048) : who.commandLine;
            attributes['exec.payload.source'] = who.source;
            attributes['exec.payload.categories'] = [...result.categories];
            attributes['exec.payload.commands'] = commands;
            if (withDest?.destination) {
              attributes['destination.address'] = withDest.destination.host;
              if (withDest.destination.port !== undefined) attributes['destination.port'] = withDest.destination.port;
              attributes['destination.class'] = withDest.destination.class;
            }
            if (withBucket?.bucket) {
              attributes['exec.payload.bucket'] = withBucket.bucket.name;
              attributes['exec.payload.bucket.provider'] = withBucket.bucket.provider;
              attributes['exec.payload.bucket.ownership'] = withBucket.bucket.ownership;
              if (withBucket.bucket.provider === 'aws') attributes['aws.s3.destination.bucket'] = withBucket.bucket.name;
            }
            for (const [k, v] of Object.entries(who.extra ?? {})) if (v !== undefined) attributes[k] = v;
            const actor = who.user ? `${who.user} ran` : 'A process ran';
            emit(
              completeFinding(env, event, {
                severity,
                dedupKey: `${who.pod}|${result.categories.join('+')}|${commands.join(' ; ')}`,
                explanation: {
                  summary: `${actor} \`${truncate(top.command, 120)}\` in ${describePod(who.pod)}: ${top.explanation}.`,
                  observed: truncate(who.commandLine, 1024),
                  expected: 'application containers run their own program, not shells, transfer tools or credential reads',
                  reasons: result.matches.map((m) => `${m.category} (${m.severity}): ${m.explanation}`),
                },
                attributes,
                tags: ['t1537', 'kubernetes', 'exec_payload', ...result.categories],
              }),
            );
            // Watch the destinations named by the command for a connection from the same pod.
            if (!who.watch) return;
            for (const m of result.matches) {
              const d = m.destination;
              if (!d || d.class === 'metadata') continue;
              const reach = reachOf(d.class);
              if (reach !== 'external' && reach !== 'cloud') continue;
              if (m.category !== 'upload' && m.category !== 'network_tool' && m.category !== 'reverse_shell' && m.category !== 'cloud_copy') continue;
              contacts.set(
                `${who.pod}|${d.host.toLowerCase()}`,
                { time: event.time, confirmed: false, severity: m.severity, command: m.command, categories: result.categories, ref: eventRef(event) },
                event.time,
              );
            }
          };

          /** Classify; the origin (attributes, command line) is built only when something matched. */
          const classify = (event: OutflowEvent, argv: readonly string[], options: ClassifyOptions, origin: Pending['origin'], who: () => Origin) => {
            const result = classifyArgv(argv, options);
            if (result.matches.length === 0) return;
            const waiting = p.bucketOwnerWaitMs > 0 && result.matches.some((m) => m.bucket?.ownership === 'unknown');
            if (waiting) {
              const key = keyOf.get(options) as OptionKey;
              pending.push({ time: event.time + p.bucketOwnerWaitMs, event, argv: [...argv], options: key, origin }, resolve);
              return;
            }
            report(event, result, who());
          };

          /** Judge a pending command now, with the bucket owners learned since. */
          const resolve = (item: Pending) => {
            try {
              const who = item.origin === 'audit' ? auditOrigin(item.event as K8sAuditEvent, item.argv) : processOrigin(item.event, processOf(item.event));
              const o = item.options;
              report(item.event, classifyArgv(item.argv, optionsFor(o.tty, o.stdin, o.splitArgs, o.shells, o.account)), who);
            } catch (err) {
              ctx.reportError(err, item.event);
            }
          };

          /** Who ran an exec through the API, rebuilt from its audit event (also for a pending command restored from a checkpoint). */
          const auditOrigin = (event: K8sAuditEvent, argv: readonly string[]): Origin => ({
            source: 'k8s_audit',
            user: effectiveUser(event),
            pod: podKey(auditTarget(event, env)),
            attributes: { ...auditAttributes(event), 'k8s.exec.command': argv.join(' ') },
            commandLine: argv.join(' '),
            watch: true,
          });

          /** Which process ran a command, from its runtime event. */
          const processOrigin = (event: OutflowEvent, process: ProcessInfo | undefined): Origin => {
            const pod = runtimePodKey(event, env);
            return {
              source: event.source,
              pod: pod ?? `${env.config.cluster.name ?? ''}/unknown`,
              attributes: runtimeAttributes(event, process),
              commandLine: process ? argvOf(process).join(' ') : '',
              watch: pod !== undefined,
            };
          };

          // Options objects are shared per combination (a handful): no allocation per event on the hot path.
          const optionCache = new Map<string, ClassifyOptions>();
          const ownerByAccount = new Map<string | undefined, NonNullable<ClassifyOptions['bucketOwner']>>();
          const common: (ClassifyOptions | undefined)[] = new Array(12);
          /** What each options object was made from, for checkpointing a pending command as data. */
          const keyOf = new WeakMap<ClassifyOptions, OptionKey>();
          const optionsFor = (tty: boolean | undefined, stdin: boolean | undefined, splitArgs: boolean, shells: boolean, account?: string): ClassifyOptions => {
            // The common case (no account, no stdin flag) is an array slot; the rest a bounded map.
            const slot = account === undefined && stdin === undefined ? (tty === undefined ? 0 : tty ? 1 : 2) + (splitArgs ? 3 : 0) + (shells ? 6 : 0) : -1;
            if (slot >= 0) {
              const hit = common[slot];
              if (hit) return hit;
            }
            const key = `${tty}|${stdin}|${splitArgs}|${shells}|${account ?? ''}`;
            let o = slot >= 0 ? undefined : optionCache.get(key);
            if (o) return o;
            let bucketOwner = ownerByAccount.get(account);
            if (!bucketOwner) {
              bucketOwner = bucketOwnerOf(env, account);
              if (ownerByAccount.size < 256) ownerByAccount.set(account, bucketOwner);
            }
            o = { splitArgs, destination, bucketOwner, interactiveShells: shells };
            if (tty !== undefined) o.tty = tty;
            if (stdin !== undefined) o.stdin = stdin;
            keyOf.set(o, optionKey(tty, stdin, splitArgs, shells, account));
            if (slot >= 0) common[slot] = o;
            else if (optionCache.size < 1024) optionCache.set(key, o);
            return o;
          };

          const onAudit = (event: K8sAuditEvent) => {
            const ref = event.objectRef;
            if (ref?.resource !== 'pods' || ref.subresource !== 'exec' || !event.command || event.command.length === 0) return;
            if ((event.verb !== 'create' && event.verb !== 'get') || !usableStage(event) || !auditSucceeded(event)) return;
            if (!once.first(event.auditId, event.time)) return;
            const argv = [...event.command];
            // Hands-on shells through the API are pod_exec's; here only what the command does.
            classify(event, argv, optionsFor(event.tty, event.stdin, false, false, event.workload?.account), 'audit', () => auditOrigin(event, argv));
          };

          const onProcess = (event: OutflowEvent, process: ProcessInfo) => {
            // The classifier reads the program from argv[0]'s base name: the sensor's argv serves as is.
            const argv = process.args.length > 0 ? process.args : [process.executable];
            classify(event, argv, optionsFor(process.tty, undefined, true, p.runtimeShells, event.workload?.account), 'process', () =>
              processOrigin(event, process),
            );
          };

          const onAlert = (event: Extract<OutflowEvent, { kind: 'runtime_alert' }>) => {
            const process = event.process;
            if (process) {
              const before = process.args.length;
              if (before > 0) {
                onProcess(event, process);
                return;
              }
            }
            // An alert about a file with no usable command line: the file alone.
            const path = event.attributes?.['file.path'];
            const pod = runtimePodKey(event, env);
            if (typeof path !== 'string' || !pod) return;
            const s = sensitivePathOf(path);
            if (!s) return;
            const program = process ? basename(process.executable) : 'a process';
            report(
              event,
              {
                matches: [
                  {
                    category: 'sensitive_read',
                    severity: s.credential ? 'high' : 'medium',
                    explanation: `${program} opened ${s.label} (${event.engine} rule "${event.rule}")`,
                    command: program,
                    paths: [s.path],
                  },
                ],
                categories: ['sensitive_read'],
                severity: s.credential ? 'high' : 'medium',
              },
              { source: event.source, pod, attributes: runtimeAttributes(event, process), commandLine: program, watch: false },
            );
          };

          const onFlow = (event: NetworkFlowEvent) => {
            if (event.direction === 'ingress' || isSelfTraffic(event)) return;
            const pod = runtimePodKey(event, env);
            if (!pod) return;
            // A destination named by an earlier command, now contacted (no command watched: no keys to build and look up).
            const candidates = contacts.size > 0 ? [event.dst.address, ...(event.dst.names ?? [])] : NO_HOSTS;
            for (const host of candidates) {
              const k = `${pod}|${host.toLowerCase()}`;
              const c = contacts.peek(k);
              if (!c || event.time < c.time) continue;
              const bytes = event.bytes ?? 0;
              if (bytes > 0) contacts.delete(k);
              else if (c.confirmed) continue;
              else c.confirmed = true;
              const severity = shiftSeverity(bytes > 0 ? adjustSeverity(c.severity, 1) : c.severity, env, 'medium');
              emit(
                completeFinding(env, event, {
                  severity,
                  dedupKey: `${pod}|contacted|${host.toLowerCase()}`,
                  evidence: [eventRef(event), c.ref],
                  explanation: {
                    summary: `${describePod(pod)} connected to ${host}${bytes > 0 ? ` and sent ${bytes} bytes` : ''}, the destination of \`${truncate(c.command, 100)}\` run ${Math.round((event.time - c.time) / 1000)} s before.`,
                    observed: `flow ${event.src.address}:${event.src.port ?? '?'} → ${event.dst.address}:${event.dst.port ?? '?'}${bytes > 0 ? `, ${bytes} bytes` : ''}`,
                    expected: 'no connection to destinations named by transfer commands',
                    reasons: [`the command was classified ${c.categories.join(', ')}; the flow confirms the transfer happened`],
                  },
                  attributes: {
                    ...runtimeAttributes(event, undefined),
                    'destination.address': event.dst.address,
                    ...(event.dst.port !== undefined ? { 'destination.port': event.dst.port } : {}),
                    ...(typeof event.attributes?.['destination.class'] === 'string' ? { 'destination.class': event.attributes['destination.class'] } : {}),
                    ...(bytes > 0 ? { 'network.io.bytes': bytes } : {}),
                    'exec.payload.categories': [...c.categories],
                    'exec.payload.commands': [c.command],
                    'exec.payload.source': event.source,
                    'exec.payload.contacted': true,
                  },
                  tags: ['t1537', 'kubernetes', 'exec_payload', 'contacted'],
                }),
              );
              break;
            }
            // A connection opened by a process a sensor names (Tetragon): classify that process once per destination.
            const process = processOf(event);
            if (!process) return;
            const procKey = `${process.execId ?? `${pod}|${process.pid ?? ''}|${process.executable}`}|${event.dst.address}`;
            if (flowProcesses.has(procKey)) return;
            flowProcesses.set(procKey, true, event.time);
            const cls = event.attributes?.['destination.class'];
            const program = basename(process.executable);
            const argv = argvOf(process);
            const result = classifyArgv(argv, optionsFor(undefined, undefined, true, false, event.workload?.account));
            const extra = { 'destination.address': event.dst.address, ...(event.dst.port !== undefined ? { 'destination.port': event.dst.port } : {}) };
            if (result.matches.length > 0) {
              report(event, result, {
                source: event.source,
                pod,
                attributes: runtimeAttributes(event, process),
                commandLine: argv.join(' '),
                extra,
                watch: false,
              });
            } else if (cls === 'metadata' && METADATA_TOOLS.has(program)) {
              report(
                event,
                {
                  matches: [
                    {
                      category: 'metadata_access',
                      severity: 'medium',
                      explanation: `${program} connected to the instance metadata service ${event.dst.address}`,
                      command: argv.join(' ').slice(0, 512),
                      destination: { host: event.dst.address, class: 'metadata' },
                    },
                  ],
                  categories: ['metadata_access'],
                  severity: 'medium',
                },
                { source: event.source, pod, attributes: runtimeAttributes(event, process), commandLine: argv.join(' '), extra, watch: false },
              );
            }
          };

          const sub = events$.subscribe({
            next: (event) => {
              try {
                if (event.time > clock) clock = event.time;
                if (++sweep >= 4096) {
                  sweep = 0;
                  contacts.expire(clock);
                  flowProcesses.expire(clock);
                }
                switch (event.kind) {
                  case 'k8s_audit':
                    onAudit(event);
                    break;
                  case 'process_exec':
                    if (event.phase === 'exec') onProcess(event, event.process);
                    break;
                  case 'runtime_alert':
                    onAlert(event);
                    break;
                  case 'network_flow':
                    onFlow(event);
                    break;
                }
              } catch (err) {
                ctx.reportError(err, event);
              }
            },
            error: (err) => subscriber.error(err),
            complete: () => {
              pending.complete(resolve);
              subscriber.complete();
            },
          });
          const wm = ctx.watermark$.subscribe({
            next: (w) => pending.advance(w, resolve),
          });
          return () => {
            sub.unsubscribe();
            wm.unsubscribe();
          };
        });
      },
    };
  },
});

function optionKey(tty: boolean | undefined, stdin: boolean | undefined, splitArgs: boolean, shells: boolean, account: string | undefined): OptionKey {
  const key: OptionKey = { splitArgs, shells };
  if (tty !== undefined) key.tty = tty;
  if (stdin !== undefined) key.stdin = stdin;
  if (account !== undefined) key.account = account;
  return key;
}

function decodeContact(raw: unknown, key: string): Contact {
  const v = expectObject(raw, `contact ${key}`);
  const [ref] = decodeRefs([v.ref], `contact ${key}.ref`);
  const severity = expectString(v.severity, `contact ${key}.severity`);
  if (!(SEVERITIES as readonly string[]).includes(severity)) throw new CheckpointFormatError(`contact ${key} has an unknown severity`);
  if (typeof v.confirmed !== 'boolean') throw new CheckpointFormatError(`contact ${key}.confirmed is not a boolean`);
  return {
    time: expectNumber(v.time, `contact ${key}.time`),
    confirmed: v.confirmed,
    severity: severity as Severity,
    command: expectString(v.command, `contact ${key}.command`),
    categories: expectStrings(v.categories, `contact ${key}.categories`),
    ref: ref as EventRef,
  };
}

function decodePending(raw: unknown): Pending {
  const v = expectObject(raw, 'pending command');
  const event = expectObject(v.event, 'pending command event');
  const origin = v.origin;
  if (origin !== 'audit' && origin !== 'process') throw new CheckpointFormatError('pending command origin is neither audit nor process');
  if (origin === 'audit' ? event.kind !== 'k8s_audit' : event.kind !== 'process_exec' && event.kind !== 'runtime_alert')
    throw new CheckpointFormatError(`a pending ${origin} command holds a ${String(event.kind)} event`);
  expectNumber(event.time, 'pending command event time');
  const o = expectObject(v.options, 'pending command options');
  if (typeof o.splitArgs !== 'boolean' || typeof o.shells !== 'boolean') throw new CheckpointFormatError('pending command options are incomplete');
  const flag = (x: unknown, what: string) => {
    if (x !== undefined && typeof x !== 'boolean') throw new CheckpointFormatError(`pending command ${what} is not a boolean`);
    return x as boolean | undefined;
  };
  return {
    time: expectNumber(v.time, 'pending command due time'),
    event: event as unknown as OutflowEvent,
    argv: expectStrings(v.argv, 'pending command argv'),
    options: optionKey(
      flag(o.tty, 'tty'),
      flag(o.stdin, 'stdin'),
      o.splitArgs,
      o.shells,
      o.account === undefined ? undefined : expectString(o.account, 'account'),
    ),
    origin,
  };
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** `cluster/ns/pod` → `ns/pod` for sentences. */
function describePod(key: string): string {
  const parts = key.split('/');
  return parts.length >= 3 ? `pod ${parts.slice(1).join('/')}` : key;
}
