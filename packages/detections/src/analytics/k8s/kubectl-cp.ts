import { type FindingDraft, type OutflowEvent, type ProcessInfo, type Severity, z } from '@outflow/core';
import { ATTACK, adjustSeverity, analyticRule, defineAnalytic } from '../../analytic.js';
import { parseOptions } from '../../classify/options.js';
import { basename, parseScript } from '../../classify/shell.js';
import { isDataPath, isSystemPath, type SensitivePath, sensitivePathOf } from '../../classify/targets.js';
import {
  argvOf,
  auditAttributes,
  auditSucceeded,
  auditTarget,
  effectiveUser,
  OnceSet,
  processOf,
  runtimeAttributes,
  usableStage,
  withConnectHook,
} from './common.js';

const params = z
  .object({
    /** Also look for the runtime twin (an archiver reading data with no terminal) in Falco and Tetragon events. */
    runtime: z.boolean().default(true),
    /** Archivers watched at runtime. */
    archivers: z.array(z.string().min(1)).default(['tar', 'bsdtar', 'gtar', 'zip', '7z', '7za', '7zr', 'rar', 'cpio', 'pax']),
    /** Parent programs that mean "started directly by the container runtime" (an exec through the API, as kubectl cp does). */
    runtimeParents: z.array(z.string().min(1)).default(['runc', 'crun', 'containerd-shim', 'containerd-shim-runc-v2', 'conmon', 'runsc', 'kata-agent']),
  })
  .strict();

/** What an archiver invocation reads and where it writes. */
interface ArchiveCall {
  program: string;
  /** Inputs (with `-C` applied). */
  inputs: string[];
  /** `-` for standard output. */
  output: string | undefined;
  /** `exact`: argv is `tar cf - <path>` (or kubectl's `sh -c "tar cf - <path> | tail -c+N"` for retries). */
  shape: 'exact' | 'retry' | 'stdout' | 'file';
}

const TAR_VALUE_LETTERS = 'fbTXCgKLNV';

/** Read a tar/zip/7z/cpio/pax argv in create mode; undefined when it does not create an archive. */
export function readArchiveCall(argv: readonly string[], archivers: ReadonlySet<string>): ArchiveCall | undefined {
  if (argv.length === 0) return undefined;
  const program = basename(argv[0] as string);
  if (!archivers.has(program)) return undefined;
  const args = argv.slice(1);
  if (program === 'tar' || program === 'bsdtar' || program === 'gtar') {
    let create = false;
    let output: string | undefined;
    let directory: string | undefined;
    let rest = args;
    if (args[0] && /^[A-Za-z]+$/.test(args[0])) {
      let next = 1;
      for (const letter of args[0]) {
        if (letter === 'c') create = true;
        if (TAR_VALUE_LETTERS.includes(letter)) {
          const v = args[next++];
          if (letter === 'f') output = v;
          if (letter === 'C') directory = v;
        }
      }
      rest = args.slice(next);
    }
    const o = parseOptions(rest, { short: TAR_VALUE_LETTERS, long: new Set(['file', 'directory', 'files-from', 'exclude', 'exclude-from', 'transform']) });
    if (o.flags.has('-c') || o.flags.has('--create')) create = true;
    if (!create) return undefined;
    output = o.values.get('-f')?.[0] ?? o.values.get('--file')?.[0] ?? output ?? '-';
    directory = o.values.get('-C')?.[0] ?? o.values.get('--directory')?.[0] ?? directory;
    const inputs = o.positionals.map((p) => (directory && !p.startsWith('/') ? `${directory.replace(/\/$/, '')}/${p}` : p));
    const exact = argv.length >= 4 && argv[1] === 'cf' && argv[2] === '-' && !(argv[3] as string).startsWith('-') && argv.length === 4;
    return { program, inputs, output, shape: exact ? 'exact' : output === '-' ? 'stdout' : 'file' };
  }
  if (program === 'zip') {
    const words = args.filter((w) => w === '-' || !w.startsWith('-'));
    const [out, ...inputs] = words;
    if (out === undefined) return undefined;
    return { program, inputs, output: out, shape: out === '-' ? 'stdout' : 'file' };
  }
  if (program === 'cpio') {
    if (!args.some((w) => /^-[a-zA-Z]*o/.test(w) || w === '--create')) return undefined;
    return { program, inputs: [], output: '-', shape: 'stdout' };
  }
  if (program === 'pax') {
    if (!args.some((w) => /^-[a-zA-Z]*w/.test(w))) return undefined;
    return { program, inputs: args.filter((w) => !w.startsWith('-')), output: '-', shape: 'stdout' };
  }
  const [verb, out, ...inputs] = args.filter((w) => !w.startsWith('-'));
  if ((verb !== 'a' && verb !== 'u') || out === undefined) return undefined;
  return { program, inputs, output: out, shape: out === '-' || args.includes('-so') ? 'stdout' : 'file' };
}

/** kubectl's retrying shape: `sh -c "tar cf - <path> | tail -c+<n>"`. */
function retryShape(command: readonly string[], archivers: ReadonlySet<string>): ArchiveCall | undefined {
  if (command.length !== 3 || basename(command[0] as string) !== 'sh' || command[1] !== '-c') return undefined;
  const script = parseScript(command[2] as string).commands;
  if (script.length !== 2 || script[0]?.pipeline !== script[1]?.pipeline) return undefined;
  const tail = script[1]?.argv ?? [];
  if (tail[0] !== 'tail' || !/^-c\+?\d+$/.test(tail.slice(1).join(''))) return undefined;
  const call = readArchiveCall(script[0]?.argv ?? [], archivers);
  if (call?.output !== '-') return undefined;
  return { ...call, shape: 'retry' };
}

function sensitiveInputs(inputs: readonly string[]): SensitivePath[] {
  return inputs.map((p) => sensitivePathOf(p)).filter((s): s is SensitivePath => s !== undefined);
}

/**
 * 10. `kubectl cp` out of a pod: an exec whose command is the archive stream
 * kubectl asks for (`tar cf - <path>`, or with `--retries`
 * `sh -c "tar cf - <path> | tail -c+N"`), or any archiver writing to standard
 * output through an exec; and its runtime twin, an archiver reading
 * application data with no terminal, seen by Falco or Tetragon.
 */
export const kubectlCp = defineAnalytic({
  id: 'kubectl_cp',
  title: '`kubectl cp` out of a pod (and its runtime twin)',
  description:
    'Files streamed out of a container as a tar archive through the Kubernetes exec API (kubectl cp), or an archiver packing application data in a container without a terminal.',
  severity: 'high',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1609, ATTACK.T1048, { technique: 'T1560', techniqueName: 'Archive Collected Data', tactic: 'TA0009', tacticName: 'Collection' }],
  kinds: ['k8s_audit', 'process_exec', 'runtime_alert'],
  dataSources: [
    'Kubernetes API server audit log (pods/exec with the command: Metadata level records it in requestURI)',
    'Tetragon process_exec events or Falco alerts with the process command line',
  ],
  dedupKeyDescription: 'cluster/namespace/pod + archived paths (the audit exec and its runtime twin fold into one alert)',
  status: 'test',
  params,
  defaultExceptions: [],
  response: {
    investigate: [
      'Which files left (k8s.cp.paths) and who asked (user.name, source.address) — the audit alert; which process packed them — the runtime alert.',
      'Is the caller an operator doing a documented support task (a ticket) or an unknown identity or address?',
    ],
    contain: [
      'Revoke the caller’s pods/exec permission and credentials if unexplained.',
      'Rotate every secret the copied paths contain (database passwords, keys, tokens).',
    ],
    analyse: ['Size the copy: check egress volume of the caller’s network and the API server’s exec stream duration; list the files under the copied paths.'],
    remediate: ['Remove tar from production images (distroless) so kubectl cp cannot work; restrict pods/exec; use backups, not cp, for data.'],
  },
  create(env) {
    const p = env.params as z.output<typeof params>;
    const archivers = new Set(p.archivers);
    const runtimeParents = new Set(p.runtimeParents);
    const once = new OnceSet();
    const key = (cluster: string, namespace: string | undefined, pod: string | undefined, inputs: readonly string[]) =>
      `${cluster}/${namespace ?? ''}/${pod ?? ''}|${[...inputs].sort().join(',')}`;

    const fromAudit = (event: Extract<OutflowEvent, { kind: 'k8s_audit' }>): FindingDraft | undefined => {
      const ref = event.objectRef;
      if (ref?.resource !== 'pods' || ref.subresource !== 'exec' || (event.verb !== 'create' && event.verb !== 'get')) return undefined;
      if (!event.command || !usableStage(event) || !auditSucceeded(event)) return undefined;
      const call = retryShape(event.command, archivers) ?? readArchiveCall(event.command, archivers);
      if (call?.output !== '-') return undefined; // writes into the pod (or extracts): not a copy out
      if (!once.first(event.auditId, event.time)) return undefined;
      const target = auditTarget(event, env);
      const user = effectiveUser(event);
      const sensitive = sensitiveInputs(call.inputs);
      const severity = sensitive.some((s) => s.credential) ? adjustSeverity(env.severity, 1) : env.severity;
      const paths = call.inputs.length > 0 ? call.inputs : ['(unspecified)'];
      const shape =
        call.shape === 'exact'
          ? 'the exact command kubectl cp sends'
          : call.shape === 'retry'
            ? 'kubectl cp --retries'
            : `${call.program} writing an archive to the exec stream`;
      return {
        severity,
        dedupKey: key(target.cluster, target.namespace, target.pod, call.inputs),
        explanation: {
          summary: `${user} copied ${paths.join(', ')} out of pod ${target.namespace}/${target.pod} through the exec API (${shape}).`,
          observed: `exec [${event.command.map((c) => JSON.stringify(c)).join(', ')}] in ${target.namespace}/${target.pod} from ${event.sourceIps[0] ?? 'an unknown address'}`,
          expected: 'no files copied out of production containers',
          reasons: [
            `${call.program} packs ${paths.join(', ')} to standard output, which the API server streams back to the caller`,
            ...(sensitive.length > 0 ? [`the copy includes ${[...new Set(sensitive.map((s) => s.label))].join(', ')}`] : []),
          ],
        },
        attributes: {
          ...auditAttributes(event),
          'k8s.exec.command': event.command.join(' '),
          'k8s.cp.paths': paths,
          'k8s.cp.shape': call.shape,
          'k8s.cp.source': 'k8s_audit',
        },
        tags: ['t1537', 'kubernetes', 'kubectl_cp', 'exec'],
      };
    };

    const fromRuntime = (event: OutflowEvent, process: ProcessInfo): FindingDraft | undefined => {
      if (process.tty === true) return undefined; // a hands-on archive in a terminal is exec_payload's (and pod_exec's) business
      const argv = argvOf(process);
      const call = readArchiveCall(argv, archivers);
      if (!call) return undefined;
      const inputs = call.inputs.filter((i) => !isSystemPath(i));
      if (call.inputs.length > 0 && inputs.length === 0) return undefined;
      const data = inputs.filter((i) => isDataPath(i));
      const sensitive = sensitiveInputs(inputs);
      // At runtime, only archives that name application data or sensitive files (cpio's list comes from stdin: unseen).
      if (data.length === 0 && sensitive.length === 0) return undefined;
      const parent = process.parent?.executable ? basename(process.parent.executable) : undefined;
      const direct = parent !== undefined && runtimeParents.has(parent);
      let severity: Severity = call.output === '-' && direct ? env.severity : adjustSeverity(env.severity, -1);
      if (sensitive.some((s) => s.credential)) severity = adjustSeverity(severity, 1);
      const w = event.workload;
      const where = w?.pod ? `${w.namespace ?? ''}/${w.pod}` : (w?.containerId ?? 'a container');
      const reasons = [
        `${call.program} packs ${inputs.length > 0 ? inputs.join(', ') : 'files'} ${call.output === '-' ? 'to standard output' : `into ${call.output}`} with no terminal`,
      ];
      if (direct) reasons.push(`started directly by the container runtime (${parent}): an exec through the API, as kubectl cp does`);
      else if (parent) reasons.push(`started by ${parent}`);
      if (sensitive.length > 0) reasons.push(`the archive includes ${[...new Set(sensitive.map((s) => s.label))].join(', ')}`);
      return {
        severity,
        dedupKey: key(w?.cluster ?? env.config.cluster.name ?? '', w?.namespace, w?.pod ?? w?.containerId, call.inputs),
        explanation: {
          summary: `${call.program} packed ${inputs.length > 0 ? inputs.join(', ') : 'files'} in ${where} without a terminal${call.output === '-' && direct ? ': the runtime side of kubectl cp' : ''}.`,
          observed: `${process.executable} ${process.args.slice(1).join(' ')}`.trim(),
          expected: 'no archiving of application data inside application containers',
          reasons,
        },
        attributes: {
          ...runtimeAttributes(event, process),
          'k8s.cp.paths': inputs.length > 0 ? inputs : ['(unspecified)'],
          'k8s.cp.shape': direct && call.output === '-' ? 'runtime_stdout' : 'runtime',
          'k8s.cp.source': event.source,
        },
        tags: ['t1537', 'kubernetes', 'kubectl_cp', 'runtime'],
      };
    };

    const detection = analyticRule(env, {
      kinds: ['k8s_audit', 'process_exec', 'runtime_alert'],
      match(event) {
        if (event.kind === 'k8s_audit') return fromAudit(event);
        if (!p.runtime) return undefined;
        if (event.kind === 'process_exec' && event.phase !== 'exec') return undefined;
        const process = processOf(event);
        return process ? fromRuntime(event, process) : undefined;
      },
    });
    // The audit half folds with its runtime twin through the alert dedup key; the audit ids already read
    // (one request is logged at several stages) are this analytic's own state, checkpointed.
    return withConnectHook(detection, (ctx) => {
      ctx.registerState('kubectl_cp.audit_ids', once);
      ctx.registerCheckpoint('audit_ids', once.checkpoint('kubectl_cp'));
    });
  },
});
