import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { httpRequest, httpStatusError, RetryableError } from '@outflow/core';
import { parse as parseYaml } from 'yaml';
import type { NetworkPolicy } from './policy.js';

/** Where and how to reach a Kubernetes API server. */
export interface KubeConnection {
  server: string;
  token?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify?: boolean;
}

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: { name: string; context: { cluster: string; user: string; namespace?: string } }[];
  clusters?: {
    name: string;
    cluster: { server: string; 'certificate-authority'?: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean };
  }[];
  users?: {
    name: string;
    user: {
      token?: string;
      tokenFile?: string;
      'client-certificate'?: string;
      'client-certificate-data'?: string;
      'client-key'?: string;
      'client-key-data'?: string;
      exec?: unknown;
      'auth-provider'?: unknown;
    };
  }[];
}

/** Read a kubeconfig file (default `$KUBECONFIG`, then `~/.kube/config`): server, token or client certificate, CA. Exec plugins are not supported. */
export function loadKubeconfig(path?: string, context?: string): KubeConnection {
  const file = path ?? process.env.KUBECONFIG?.split(':')[0] ?? join(homedir(), '.kube', 'config');
  const doc = parseYaml(readFileSync(file, 'utf8')) as KubeconfigFile;
  const name = context ?? doc['current-context'];
  const ctx = doc.contexts?.find((c) => c.name === name);
  if (!ctx) throw new Error(`kubeconfig ${file}: context ${JSON.stringify(name)} not found`);
  const cluster = doc.clusters?.find((c) => c.name === ctx.context.cluster)?.cluster;
  if (!cluster?.server) throw new Error(`kubeconfig ${file}: cluster ${JSON.stringify(ctx.context.cluster)} not found or has no server`);
  const user = doc.users?.find((u) => u.name === ctx.context.user)?.user ?? {};
  if (user.exec || user['auth-provider'])
    throw new Error(`kubeconfig ${file}: user ${ctx.context.user} uses an exec or auth-provider plugin, which is not supported; use a token`);
  const data = (b64?: string, filePath?: string) => (b64 ? Buffer.from(b64, 'base64') : filePath ? readFileSync(filePath) : undefined);
  const token = user.token ?? (user.tokenFile ? readFileSync(user.tokenFile, 'utf8').trim() : undefined);
  const ca = data(cluster['certificate-authority-data'], cluster['certificate-authority']);
  const cert = data(user['client-certificate-data'], user['client-certificate']);
  const key = data(user['client-key-data'], user['client-key']);
  return {
    server: cluster.server.replace(/\/+$/, ''),
    ...(token ? { token } : {}),
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(cluster['insecure-skip-tls-verify'] ? { insecureSkipTlsVerify: true } : {}),
  };
}

/** The in-cluster service account: `KUBERNETES_SERVICE_HOST`/`_PORT`, and the token and CA under `dir`. */
export function inClusterConnection(dir = '/var/run/secrets/kubernetes.io/serviceaccount', env: NodeJS.ProcessEnv = process.env): KubeConnection {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('not running in a cluster: KUBERNETES_SERVICE_HOST is not set');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    token: readFileSync(join(dir, 'token'), 'utf8').trim(),
    ca: readFileSync(join(dir, 'ca.crt')),
  };
}

/** JSON with object keys sorted, to compare objects regardless of key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

export type ApplyOutcome = 'created' | 'replaced' | 'unchanged';

/** A minimal client for the NetworkPolicy endpoints of the Kubernetes API. */
export class KubeClient {
  private readonly agent: HttpAgent | HttpsAgent;
  /** Requests sent. */
  requests = 0;

  constructor(
    private readonly conn: KubeConnection,
    private readonly options: { fieldManager: string; timeoutMs: number },
  ) {
    const https = conn.server.startsWith('https:');
    this.agent = https
      ? new HttpsAgent({
          keepAlive: true,
          maxSockets: 4,
          ...(conn.ca ? { ca: conn.ca } : {}),
          ...(conn.cert ? { cert: conn.cert } : {}),
          ...(conn.key ? { key: conn.key } : {}),
          rejectUnauthorized: !conn.insecureSkipTlsVerify,
        })
      : new HttpAgent({ keepAlive: true, maxSockets: 4 });
  }

  private async call(
    method: string,
    path: string,
    signal: AbortSignal,
    body?: unknown,
  ): Promise<{ status: number; json: Record<string, unknown> | undefined; text: string }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.conn.token) headers.authorization = `Bearer ${this.conn.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    this.requests++;
    const res = await httpRequest(`${this.conn.server}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal,
      timeoutMs: this.options.timeoutMs,
      agent: this.agent,
    });
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(res.body) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    if (res.status >= 200 && res.status < 300) return { status: res.status, json, text: res.body };
    if (res.status === 409 || res.status === 404) return { status: res.status, json, text: res.body };
    const message = typeof json?.message === 'string' ? json.message : res.body;
    throw httpStatusError(`Kubernetes API ${method} ${path.split('?')[0]}`, res.status, res.headers, message);
  }

  /**
   * Create the policy, or replace it when one of that name exists (and differs).
   * With `dryRun` every write carries `dryRun=All`: the API server validates
   * and admits it without persisting anything.
   */
  async applyNetworkPolicy(policy: NetworkPolicy, dryRun: boolean, signal: AbortSignal): Promise<ApplyOutcome> {
    const ns = encodeURIComponent(policy.metadata.namespace);
    const base = `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`;
    const query = `?fieldManager=${encodeURIComponent(this.options.fieldManager)}${dryRun ? '&dryRun=All' : ''}`;
    const created = await this.call('POST', `${base}${query}`, signal, policy);
    if (created.status !== 409) return 'created';
    const itemPath = `${base}/${encodeURIComponent(policy.metadata.name)}`;
    const existing = await this.call('GET', itemPath, signal);
    if (existing.status === 404)
      throw new RetryableError(`NetworkPolicy ${policy.metadata.namespace}/${policy.metadata.name} vanished between create and read`);
    const current = existing.json as Partial<NetworkPolicy> | undefined;
    const resourceVersion = current?.metadata?.resourceVersion;
    if (
      current &&
      canonical(current.spec) === canonical(policy.spec) &&
      canonical(current.metadata?.labels ?? {}) === canonical(policy.metadata.labels ?? {}) &&
      canonical(current.metadata?.annotations ?? {}) === canonical(policy.metadata.annotations ?? {})
    ) {
      return 'unchanged';
    }
    const replacement = { ...policy, metadata: { ...policy.metadata, ...(resourceVersion ? { resourceVersion } : {}) } };
    const replaced = await this.call('PUT', `${itemPath}${query}`, signal, replacement);
    if (replaced.status === 409)
      throw new RetryableError(`NetworkPolicy ${policy.metadata.namespace}/${policy.metadata.name} changed while replacing it (conflict)`);
    if (replaced.status === 404) throw new RetryableError(`NetworkPolicy ${policy.metadata.namespace}/${policy.metadata.name} vanished before it was replaced`);
    return 'replaced';
  }

  close(): void {
    this.agent.destroy();
  }
}
