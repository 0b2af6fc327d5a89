import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, silentLogger } from '@outflow/core';
import { createTestContext } from '@outflow/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WorkloadIdentityProcessor } from '../src/index.js';
import { TESTDATA } from './helpers.js';

const T = (iso: string) => Date.parse(iso);
const [web, backup] = (JSON.parse(readFileSync(join(TESTDATA, 'k8s/pods.json'), 'utf8')) as { items: Record<string, unknown>[] }).items as [
  Record<string, unknown>,
  Record<string, unknown>,
];

function withRv<T extends Record<string, unknown>>(obj: T, rv: string): T {
  const copy = structuredClone(obj);
  (copy.metadata as Record<string, unknown>).resourceVersion = rv;
  return copy;
}

const apiPod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'api-0',
    namespace: 'shop',
    uid: 'uid-api-0',
    creationTimestamp: '2024-03-01T05:00:00Z',
    resourceVersion: '101',
    ownerReferences: [{ kind: 'StatefulSet', name: 'api', controller: true }],
  },
  spec: { nodeName: 'node-1', containers: [{ name: 'api', image: 'ghcr.io/acme/api:3.1' }] },
  status: { phase: 'Running', startTime: '2024-03-01T05:00:05Z', podIP: '10.42.0.20', podIPs: [{ ip: '10.42.0.20' }] },
};

interface Request {
  url: string;
  auth: string | undefined;
}

/** A fake Kubernetes API server on 127.0.0.1: a pod list and a scripted watch. */
class FakeApiServer {
  server: Server;
  requests: Request[] = [];
  /** Open watch responses, newest last. */
  watches: ServerResponse[] = [];
  lists = 0;
  /** Handlers for successive watch requests; the last one repeats. */
  watchScript: ((res: ServerResponse) => void)[] = [];

  constructor(private readonly listItems: () => unknown[]) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as AddressInfo).port)));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ url: req.url ?? '', auth: req.headers.authorization });
    if (url.pathname !== '/api/v1/pods') {
      res.writeHead(404).end();
      return;
    }
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      this.watches.push(res);
      const n = this.watches.length - 1;
      const script = this.watchScript[Math.min(n, this.watchScript.length - 1)];
      script?.(res);
      return;
    }
    this.lists++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(100 * this.lists) }, items: this.listItems() }));
  }

  close(): Promise<void> {
    for (const w of this.watches) w.destroy();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const send = (res: ServerResponse, type: string, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`);

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('Kubernetes pod watch against a fake API server on 127.0.0.1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'outflow-kube-'));
  let api: FakeApiServer;
  let kubeconfig: string;
  const clock: Clock = { now: () => T('2024-03-01T06:00:00Z') };
  let processor: WorkloadIdentityProcessor | undefined;

  beforeAll(() => {
    kubeconfig = join(dir, 'kubeconfig');
  });
  afterEach(async () => {
    await processor?.shutdown();
    processor = undefined;
    await api?.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function start(listItems: () => unknown[], script: ((res: ServerResponse) => void)[], resyncMs = 3_600_000) {
    api = new FakeApiServer(listItems);
    api.watchScript = script;
    const port = await api.listen();
    // JSON is YAML: a kubeconfig whose current context is wrong, selected by `context`. The fake server speaks
    // plain HTTP on loopback, which client-node accepts only with insecure-skip-tls-verify.
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'fake', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } },
          { name: 'nowhere', cluster: { server: 'http://127.0.0.1:9', 'insecure-skip-tls-verify': true } },
        ],
        users: [{ name: 'tester', user: { token: 'test-token' } }],
        contexts: [
          { name: 'fake', context: { cluster: 'fake', user: 'tester' } },
          { name: 'wrong', context: { cluster: 'nowhere', user: 'tester' } },
        ],
        'current-context': 'wrong',
      }),
    );
    const ctx = createTestContext({ name: 't1537', kind: 'processor', clock });
    processor = new WorkloadIdentityProcessor({
      cluster: 'prod-eu',
      kubernetes: { watch: true, kubeconfig, context: 'fake', resyncMs, startTimeoutMs: 10_000 },
      logger: silentLogger,
      metrics: ctx.metrics,
      clock,
    });
    await processor.start();
    return { ctx, watcher: processor.podWatcher as NonNullable<WorkloadIdentityProcessor['podWatcher']>, p: processor };
  }

  it('lists, then applies ADDED / MODIFIED / DELETED from the watch, with the token and the list resourceVersion', async () => {
    const { watcher, p } = await start(
      () => [web, backup],
      [
        (res) => {
          send(res, 'ADDED', apiPod);
          send(res, 'MODIFIED', withRv({ ...web, metadata: { ...(web.metadata as object), labels: { app: 'web', tier: 'front' } } }, '102'));
          send(res, 'DELETED', withRv(backup, '103'));
          send(res, 'BOOKMARK', { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: '104' } });
        },
      ],
    );
    // start() resolved after the first list.
    expect(watcher.lists).toBe(1);
    expect(p.workloads.byIp('10.42.0.15', T('2024-03-01T01:00:00Z'))?.pod).toBe('web-7d4b9c8f6d-x2x9k');
    await until(() => watcher.events >= 4, 'four watch events');
    expect(p.workloads.byIp('10.42.0.20', T('2024-03-01T05:30:00Z'))).toMatchObject({ pod: 'api-0', workloadKind: 'StatefulSet', cluster: 'prod-eu' });
    expect(p.workloads.byIp('10.42.0.15', T('2024-03-01T05:30:00Z'))?.labels).toEqual({ app: 'web', tier: 'front' });
    // The backup pod had finished at 01:00 (from its status), so it was attributed only until then.
    expect(p.workloads.byIp('10.42.0.16', T('2024-03-01T00:30:00Z'))?.pod).toBe('backup-28500000-q7r2t');
    expect(p.workloads.byIp('10.42.0.16', T('2024-03-01T05:30:00Z'))).toBeUndefined();
    const [list, watch] = api.requests;
    expect(list?.auth).toBe('Bearer test-token');
    expect(list?.url).toMatch(/^\/api\/v1\/pods\?limit=500/);
    expect(watch?.url).toContain('watch=true');
    expect(watch?.url).toContain('resourceVersion=100');
    expect(watch?.url).toContain('allowWatchBookmarks=true');
    expect(watcher.size).toBe(2);
  });

  it('re-watches from the last resourceVersion when the server ends the watch, and re-lists after 410 Gone', async () => {
    const { watcher, p } = await start(
      () => [web],
      [
        (res) => {
          send(res, 'ADDED', apiPod);
          res.end();
        },
        (res) => {
          send(res, 'ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 });
          res.end();
        },
        () => {},
      ],
    );
    await until(() => api.lists >= 2 && api.watches.length >= 3, 'a re-list after 410 and a third watch');
    const watchUrls = api.requests.filter((r) => r.url.includes('watch=true')).map((r) => new URL(r.url, 'http://x').searchParams.get('resourceVersion'));
    expect(watchUrls.slice(0, 3)).toEqual(['100', '101', '200']);
    expect(watcher.lists).toBe(2);
    // api-0 is missing from the second list: it was deleted while we were not watching.
    expect(p.workloads.byIp('10.42.0.20', T('2024-03-01T05:30:00Z'))?.pod).toBe('api-0');
    expect(p.workloads.byIp('10.42.0.20', T('2024-03-01T06:30:00Z'))).toBeUndefined();
  });

  it('keeps retrying (counted, never thrown) when the API server fails, and start does not hang past its timeout', async () => {
    api = new FakeApiServer(() => []);
    api.server.removeAllListeners('request');
    api.server.on('request', (_req, res) => res.writeHead(500).end('boom'));
    const port = await api.listen();
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'tester', user: { token: 't' } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'tester' } }],
        'current-context': 'fake',
      }),
    );
    const ctx = createTestContext({ name: 't1537', kind: 'processor', clock });
    processor = new WorkloadIdentityProcessor({
      kubernetes: { watch: true, kubeconfig, startTimeoutMs: 300 },
      logger: silentLogger,
      metrics: ctx.metrics,
      clock,
    });
    const started = Date.now();
    await processor.start();
    expect(Date.now() - started).toBeLessThan(5_000);
    await until(() => ctx.telemetry.total('errors', { reason: 'kubernetes_watch' }) >= 1, 'a counted failure');
  });
});
