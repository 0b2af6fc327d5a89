import { createHash } from 'node:crypto';
import { type OutflowEvent, workloadKey } from '@outflow/core';

/**
 * Subjects used on NATS, all under one prefix (default `outflow`):
 *
 * - `<prefix>.keyed.<key-token>`: where publishers send events; the server maps
 *   each to `<prefix>.events.<partition>` with `{{partition(N,1)}}`;
 * - `<prefix>.events.<partition>`: what the events stream stores and what
 *   detectors consume, one subject per partition;
 * - `<prefix>.alerts.<severity>`: what the alerts stream stores.
 */
export interface SubjectLayout {
  prefix: string;
}

export const DEFAULT_PREFIX = 'outflow';

export function keyedSubject(prefix: string, token: string): string {
  return `${prefix}.keyed.${token}`;
}

export function partitionSubject(prefix: string, partition: number): string {
  return `${prefix}.events.${partition}`;
}

export function alertSubject(prefix: string, severity: string): string {
  return `${prefix}.alerts.${severity}`;
}

/**
 * 32-bit FNV-1a of the UTF-8 bytes of `text`: the hash nats-server's
 * `partition()` subject-mapping function uses, so that `partitionOf` names the
 * partition the server will choose.
 */
export function fnv1a32(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i] as number;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The partition (0..n-1) nats-server's `{{partition(n,1)}}` assigns to a subject whose wildcard token is `token`. */
export function partitionOf(token: string, partitions: number): number {
  return fnv1a32(token) % partitions;
}

const TOKEN_SAFE = /^[A-Za-z0-9_\-/:=@+,]+$/;
const MAX_TOKEN = 120;

/**
 * Turn a detection key into one NATS subject token: characters NATS reserves
 * in subjects (`.`, `*`, `>`, whitespace) and anything unusual are written as
 * `~XX` (hex of the UTF-8 byte), so distinct keys stay distinct; keys longer
 * than 120 characters keep a readable head and a SHA-256 suffix.
 */
export function subjectToken(key: string): string {
  let token = key;
  if (!TOKEN_SAFE.test(token)) {
    let out = '';
    for (const ch of key) {
      if (/^[A-Za-z0-9_\-/:=@+,]$/.test(ch)) out += ch;
      else for (const byte of Buffer.from(ch, 'utf8')) out += `~${byte.toString(16).padStart(2, '0').toUpperCase()}`;
    }
    token = out;
  }
  if (token.length === 0) return '_';
  if (token.length > MAX_TOKEN) token = `${token.slice(0, 64)}~${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
  return token;
}

/** Maps an event to its detection key: events with equal keys land in one partition. Return undefined to use the fallback. */
export type KeyFunction = (event: OutflowEvent) => string | undefined;

/**
 * The detection key of an event, so that everything one baseline or one
 * correlation needs lands in one partition:
 *
 * - cloud API calls: the account the call acted in (`recipientAccountId`, else
 *   the caller's account), else the principal: one account's control-plane
 *   history stays together (shares and their later use, policy changes);
 * - everything else: the workload identity (core's `workloadKey`), else for
 *   flows the local address, for audit events the user, for runtime events
 *   the container id;
 * - last resort: the event's source format.
 */
export function detectionKey(event: OutflowEvent): string {
  if (event.kind === 'cloud_api_call') {
    const account = event.recipientAccountId ?? event.actor.accountId;
    if (account) return `account:${account}`;
    const principal = event.actor.arn ?? event.actor.principalId ?? event.actor.userName;
    if (principal) return `principal:${principal}`;
    return `source:${event.source}`;
  }
  const workload = workloadKey(event.workload);
  if (workload) return `workload:${workload}`;
  switch (event.kind) {
    case 'network_flow':
      return `address:${event.direction === 'ingress' ? event.dst.address : event.src.address}`;
    case 'k8s_audit':
      return `user:${event.user.username}`;
    default: {
      const container = event.workload?.containerId;
      if (container) return `container:${container}`;
    }
  }
  return `source:${event.source}`;
}

/**
 * The `mappings` block for a nats-server configuration file that partitions
 * `<prefix>.keyed.<token>` into `<prefix>.events.<0..n-1>`.
 */
export function serverMappingConfig(partitions: number, prefix = DEFAULT_PREFIX): string {
  return `mappings = {\n  "${prefix}.keyed.*": "${prefix}.events.{{partition(${partitions},1)}}"\n}\n`;
}

/** Partitions `instance` owns out of `instances` under static assignment: every partition p with p mod instances = instance. */
export function staticPartitions(partitions: number, instance: number, instances: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < partitions; p++) if (p % instances === instance) out.push(p);
  return out;
}

/** A name usable in JetStream stream, consumer and KV key names: letters, digits, `-` and `_`. */
export function safeName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_-]/g, '_');
  return cleaned.length > 0 ? cleaned : '_';
}
