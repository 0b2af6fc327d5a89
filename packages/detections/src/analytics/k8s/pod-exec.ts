import { type Severity, z } from '@outflow/core';
import { ATTACK, adjustSeverity, analyticRule, defineAnalytic } from '../../analytic.js';
import { basename } from '../../classify/shell.js';
import { auditAttributes, auditSucceeded, auditTarget, effectiveUser, OnceSet, SHELL_PROGRAMS, usableStage, withConnectHook } from './common.js';

const params = z
  .object({
    /** Namespaces where an exec raises the severity one step (besides the cluster's system namespaces). */
    sensitiveNamespaces: z.array(z.string().min(1)).default(['kube-system']),
    /** Report execs the API server refused, as informational findings. */
    reportDenied: z.boolean().default(true),
    /** Programs counted as shells. */
    shells: z.array(z.string().min(1)).default([...SHELL_PROGRAMS]),
  })
  .strict();

/** Strictly read-only diagnostics: one program, arguments of letters, digits, dashes and dots only. */
const DIAGNOSTICS =
  '^(?:/(?:usr/)?(?:s?bin)/)?(?:date|hostname|uptime|whoami|id|nproc|uname(?: -[a-z]+)?|df(?: -[hkiTP]+)?|free(?: -[bkmgh]+)?|pwd|true|ps(?: aux| -ef| -e| -A)?|pg_isready(?: -[a-zA-Z]+(?: [a-zA-Z0-9.-]+)?)*|redis-cli ping|nginx -t|java -version|python3? --version|node --version)$';

/**
 * 9. Exec or attach into a pod: `create` and `get` on `pods/exec` and
 * `pods/attach`, with the command decoded from the request. Severity rises
 * for interactive shells and sensitive namespaces; refused attempts are
 * informational at most.
 */
export const podExec = defineAnalytic({
  id: 'pod_exec',
  title: 'Exec or attach into a pod',
  description: 'A user or service account ran a command in (or attached to) a running container through the Kubernetes API.',
  severity: 'low',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1609],
  kinds: ['k8s_audit'],
  dataSources: ['Kubernetes API server audit log (Metadata level or above; pods/exec and pods/attach)'],
  dedupKeyDescription: 'identity + cluster/namespace/pod + subresource + command',
  status: 'test',
  params,
  defaultExceptions: [
    {
      id: 'read-only-diagnostics',
      match: {
        'attributes.k8s.exec.command': { regex: DIAGNOSTICS },
        'attributes.k8s.exec.interactive': 'false',
        'attributes.k8s.exec.sensitive_namespace': 'false',
      },
      reason:
        'A single read-only diagnostic command (date, hostname, uptime, id, df, free, ps, pg_isready, ...) without a terminal, outside sensitive namespaces: it reads no data and changes nothing. Commands that print secrets (env, cat, printenv) are deliberately not in the list.',
      owner: 'outflow',
    },
  ],
  response: {
    investigate: [
      'Who ran it (user.name, k8s.user.groups, source.address, user_agent.original) and is there a ticket or an incident that explains it?',
      'What ran (k8s.exec.command): read the exec_payload and kubectl_cp alerts for the same pod around the same time.',
      'What the session did next: runtime events (Falco, Tetragon) of the container from the exec time on.',
    ],
    contain: [
      'Revoke the identity’s access (remove the RoleBinding that grants pods/exec, or rotate its credentials) if the exec is not explained.',
      'Isolate the pod with a deny-all-egress NetworkPolicy (or the quarantine exporter) while it is examined.',
    ],
    analyse: ['List the data reachable from the container (mounted secrets, volumes, cloud credentials of its service account) and any egress after the exec.'],
    remediate: ['Grant pods/exec only to break-glass roles; prefer ephemeral debug containers with audit; alert on exec in production namespaces.'],
  },
  create(env) {
    const p = env.params as z.output<typeof params>;
    const sensitive = new Set(p.sensitiveNamespaces);
    const shells = new Set(p.shells);
    const once = new OnceSet();
    const detection = analyticRule(env, {
      kinds: ['k8s_audit'],
      match(event, ctx) {
        const ref = event.objectRef;
        if (ref?.resource !== 'pods' || (ref.subresource !== 'exec' && ref.subresource !== 'attach')) return undefined;
        if (event.verb !== 'create' && event.verb !== 'get') return undefined;
        if (!usableStage(event)) return undefined;
        if (!once.first(event.auditId, event.time)) return undefined;
        const target = auditTarget(event, env);
        if (!target.pod || !target.namespace) {
          ctx.metrics.add('dropped', 1, 'no_target_pod');
          return undefined;
        }
        const user = effectiveUser(event);
        const command = event.command ?? [];
        const program = command[0] ? basename(command[0]) : undefined;
        const attach = ref.subresource === 'attach';
        const shell = program !== undefined && shells.has(program);
        const shellScript = shell && command.some((w) => w === '-c' || /^-[a-z]*c$/.test(w));
        // A shell with a terminal or stdin, or an attach to a container's console, is a hands-on session.
        const interactive = attach
          ? event.tty === true || event.stdin === true
          : shell && !shellScript && (event.tty === true || event.stdin === true || command.length === 1);
        const inSensitive = sensitive.has(target.namespace);
        const succeeded = auditSucceeded(event);
        const what = attach ? 'attached to' : 'ran a command in';
        const commandText = attach ? '(attach)' : command.length > 0 ? command.join(' ') : '(command not logged)';
        const podName = `${target.namespace}/${target.pod}`;
        let severity: Severity = env.severity;
        const reasons: string[] = [];
        if (interactive) {
          severity = adjustSeverity(severity, 1);
          reasons.push(
            attach ? 'attach with a terminal or stdin: a hands-on session' : `interactive ${program} ${event.tty ? 'with a terminal' : 'with stdin'}`,
          );
        }
        if (inSensitive) {
          severity = adjustSeverity(severity, 1);
          reasons.push(`namespace ${target.namespace} is sensitive`);
        }
        if (!succeeded) {
          if (!p.reportDenied) return undefined;
          severity = 'informational';
          reasons.push(`refused by the API server (${event.decision === 'forbid' ? 'forbidden' : `HTTP ${event.responseCode}`})`);
        }
        return {
          severity,
          dedupKey: `${user}|${target.cluster}/${podName}|${ref.subresource}|${commandText}`,
          explanation: {
            summary: succeeded
              ? interactive && !attach
                ? `${user} opened an interactive ${program} in pod ${podName}.`
                : `${user} ${what} pod ${podName}${attach ? '' : `: ${commandText}`}.`
              : `${user} tried to ${attach ? 'attach to' : 'exec into'} pod ${podName} and was refused.`,
            observed: `${event.verb} pods/${ref.subresource} on ${podName}${event.execContainer ? ` container ${event.execContainer}` : ''}${attach ? '' : ` command [${command.map((c) => JSON.stringify(c)).join(', ')}]`}${event.tty !== undefined ? ` tty=${event.tty}` : ''}${event.stdin !== undefined ? ` stdin=${event.stdin}` : ''} from ${event.sourceIps[0] ?? 'an unknown address'}`,
            expected: 'no hands-on access to production containers outside break-glass procedures',
            ...(reasons.length > 0 ? { reasons } : {}),
          },
          attributes: {
            ...auditAttributes(event),
            'k8s.exec.subresource': ref.subresource,
            'k8s.exec.command': commandText,
            'k8s.exec.interactive': interactive,
            'k8s.exec.sensitive_namespace': inSensitive,
            ...(event.execContainer ? { 'k8s.container.name': event.execContainer } : {}),
            ...(event.tty !== undefined ? { 'k8s.exec.tty': event.tty } : {}),
            ...(event.stdin !== undefined ? { 'k8s.exec.stdin': event.stdin } : {}),
          },
          tags: ['t1537', 'kubernetes', 'exec', ...(succeeded ? [] : ['denied'])],
        };
      },
    });
    // The audit ids already read (one request is logged at several stages) are checkpointed.
    return withConnectHook(detection, (ctx) => {
      ctx.registerState('pod_exec.audit_ids', once);
      ctx.registerCheckpoint('audit_ids', once.checkpoint('pod_exec'));
    });
  },
});
