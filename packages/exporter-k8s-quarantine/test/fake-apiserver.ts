import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { validateNetworkPolicy } from '../src/index.js';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  authorization: string | undefined;
}

type Stored = {
  metadata: { name: string; namespace: string; resourceVersion: string; uid: string; creationTimestamp: string; [k: string]: unknown };
  [k: string]: unknown;
};

/**
 * A fake Kubernetes API server on 127.0.0.1 implementing create (POST), read
 * (GET) and replace (PUT) of networking.k8s.io/v1 NetworkPolicies, with
 * bearer-token auth, `dryRun=All`, resourceVersion conflicts, and validation
 * of every submitted object against the NetworkPolicy schema (422 when invalid).
 */
export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  readonly objects = new Map<string, Stored>();
  private server: Server | undefined;
  private version = 100;
  port = 0;
  /** Answer the next requests with these statuses first (e.g. 500, 403). */
  failNext: number[] = [];
  /** Bump the stored object's resourceVersion right after the next GET (a concurrent writer). */
  raceAfterGet = false;

  constructor(readonly token = 'test-token') {}

  private status(res: ServerResponse, code: number, reason: string, message: string) {
    res
      .writeHead(code, { 'content-type': 'application/json' })
      .end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code }));
  }

  private handle(req: IncomingMessage, res: ServerResponse, raw: string) {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams);
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    this.requests.push({ method: req.method ?? '', path: url.pathname, query, body, authorization: req.headers.authorization });
    if (req.headers.authorization !== `Bearer ${this.token}`) return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    const forced = this.failNext.shift();
    if (forced) return this.status(res, forced, forced === 403 ? 'Forbidden' : 'InternalError', `forced ${forced}`);
    const m = /^\/apis\/networking\.k8s\.io\/v1\/namespaces\/([^/]+)\/networkpolicies(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return this.status(res, 404, 'NotFound', 'the server could not find the requested resource');
    const namespace = decodeURIComponent(m[1] as string);
    const name = m[2] ? decodeURIComponent(m[2]) : undefined;
    const dryRun = query.dryRun === 'All';
    if (query.dryRun !== undefined && !dryRun) return this.status(res, 400, 'BadRequest', `invalid dryRun ${query.dryRun}`);
    const check = (obj: unknown): string | undefined => {
      const o = obj as { metadata?: { namespace?: string; name?: string; resourceVersion?: string } };
      const { resourceVersion: _rv, ...meta } = o?.metadata ?? {};
      const problems = validateNetworkPolicy({ ...(o as object), metadata: meta });
      if (problems.length > 0) return problems.map((p) => `${p.path}: ${p.message}`).join('; ');
      if (o.metadata?.namespace !== namespace)
        return `the namespace of the object (${o.metadata?.namespace}) does not match the namespace on the request (${namespace})`;
      return undefined;
    };
    const key = (n: string) => `${namespace}/${n}`;
    if (req.method === 'POST' && !name) {
      const invalid = check(body);
      if (invalid) return this.status(res, 422, 'Invalid', invalid);
      const obj = body as Stored;
      if (this.objects.has(key(obj.metadata.name)))
        return this.status(res, 409, 'AlreadyExists', `networkpolicies.networking.k8s.io "${obj.metadata.name}" already exists`);
      const stored: Stored = {
        ...obj,
        metadata: { ...obj.metadata, resourceVersion: String(++this.version), uid: `uid-${this.version}`, creationTimestamp: new Date().toISOString() },
      };
      if (!dryRun) this.objects.set(key(obj.metadata.name), stored);
      return res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(stored));
    }
    if (req.method === 'GET' && name) {
      const obj = this.objects.get(key(name));
      if (!obj) return this.status(res, 404, 'NotFound', `networkpolicies.networking.k8s.io "${name}" not found`);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
      if (this.raceAfterGet) {
        this.raceAfterGet = false;
        obj.metadata.resourceVersion = String(++this.version);
      }
      return;
    }
    if (req.method === 'PUT' && name) {
      const invalid = check(body);
      if (invalid) return this.status(res, 422, 'Invalid', invalid);
      const obj = body as Stored;
      if (obj.metadata.name !== name) return this.status(res, 400, 'BadRequest', 'the name of the object does not match the name on the URL');
      const current = this.objects.get(key(name));
      if (!current) return this.status(res, 404, 'NotFound', `networkpolicies.networking.k8s.io "${name}" not found`);
      if (obj.metadata.resourceVersion !== current.metadata.resourceVersion)
        return this.status(res, 409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again');
      const stored: Stored = {
        ...obj,
        metadata: {
          ...obj.metadata,
          uid: current.metadata.uid,
          creationTimestamp: current.metadata.creationTimestamp,
          resourceVersion: String(++this.version),
        },
      };
      if (!dryRun) this.objects.set(key(name), stored);
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stored));
    }
    return this.status(res, 405, 'MethodNotAllowed', `${req.method} is not supported here`);
  }

  async listen(): Promise<string> {
    const server = createServer((req, res) => {
      req.on('error', () => {});
      res.on('error', () => {});
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (server.address() as AddressInfo).port;
    return `http://127.0.0.1:${this.port}`;
  }

  /** A kubeconfig pointing at this server, with the token. */
  kubeconfig(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'current-context: fake',
      'clusters:',
      '  - name: fake',
      '    cluster:',
      `      server: http://127.0.0.1:${this.port}`,
      '  - name: other',
      '    cluster:',
      '      server: https://192.0.2.1:6443',
      'contexts:',
      '  - name: fake',
      '    context: { cluster: fake, user: outflow }',
      '  - name: other',
      '    context: { cluster: other, user: exec-user }',
      'users:',
      '  - name: outflow',
      `    user: { token: ${this.token} }`,
      '  - name: exec-user',
      '    user:',
      '      exec: { command: aws, apiVersion: client.authentication.k8s.io/v1beta1 }',
      '',
    ].join('\n');
  }

  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}
