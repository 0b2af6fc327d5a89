import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Alert, alertFromFinding, createPipeline, ExportRunner, rule, T1537 } from '@outflow/core';
import { createTestContext, exporterConformance, flowEvent, MemoryReceiver } from '@outflow/testkit';
import { defineConformanceTests } from '@outflow/testkit/vitest';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import {
  buildQuarantinePolicy,
  inClusterConnection,
  k8sQuarantine,
  loadKubeconfig,
  type NetworkPolicy,
  type QuarantineDecision,
  QuarantineExporter,
  validateNetworkPolicy,
} from '../src/index.js';
import { FakeApiServer } from './fake-apiserver.js';

const T0 = Date.UTC(2024, 4, 1, 12, 0);
const dirs: string[] = [];
const servers: FakeApiServer[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'outflow-quarantine-'));
  dirs.push(d);
  return d;
}
async function apiServer(): Promise<{ api: FakeApiServer; kubeconfig: string }> {
  const api = new FakeApiServer();
  await api.listen();
  servers.push(api);
  const kubeconfig = join(tempDir(), 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeconfig());
  return { api, kubeconfig };
}
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function ledgerAlert(over: Partial<Alert> = {}, n = 0): Alert {
  const a = alertFromFinding(
    {
      detection: { id: 'egress_volume_anomaly', title: 'Unusual egress volume', attack: T1537 },
      severity: 'high',
      time: T0 + n,
      workload: {
        cluster: 'prod-eu',
        namespace: 'payments',
        workloadKind: 'Deployment',
        workloadName: 'ledger',
        pod: 'ledger-7d9f8c-abcde',
        labels: { app: 'ledger', 'app.kubernetes.io/part-of': 'payments', 'pod-template-hash': '7d9f8c' },
      },
      evidence: [{ source: 'aws_vpc_flow', id: 'eni-1:1' }],
      explanation: { summary: 'ledger sent 5.2 GB to 203.0.113.10 in 5 min' },
      dedupKey: `ledger/${n}`,
    },
    T0 + 1000,
  );
  return { ...a, ...over };
}

const signal = () => new AbortController().signal;
function exporterWith(config: Record<string, unknown>) {
  const ctx = createTestContext({ kind: 'exporter', name: 'k8s_quarantine', clock: { now: () => T0 + 5000 } });
  const exporter = new QuarantineExporter(ctx, k8sQuarantine.validate(config));
  return { ctx, exporter };
}
const decisions = (dir: string): QuarantineDecision[] =>
  existsSync(join(dir, 'quarantine-decisions.jsonl'))
    ? readFileSync(join(dir, 'quarantine-decisions.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as QuarantineDecision)
    : [];

/** Wait for a condition (the machine may be loaded: no fixed sleeps). */
async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the quarantine NetworkPolicy', () => {
  it('isolates the workload: its pods by label, egress only to kube-dns and the allow-list (golden)', () => {
    const { exporter } = exporterWith({
      directory: '/unused',
      isolateIngress: true,
      allowCidrs: ['10.20.0.0/16', { cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] }],
      allowNamespaces: ['forensics'],
    });
    const built = exporter.policyFor(ledgerAlert());
    if (!('policy' in built)) throw new Error(built.message);
    const policy = built.policy;
    expect(validateNetworkPolicy(policy)).toEqual([]);
    const golden = fileURLToPath(new URL('../testdata/ledger-quarantine.yaml', import.meta.url));
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, stringify(policy, { lineWidth: 0 }));
    expect(policy).toEqual(parseYaml(readFileSync(golden, 'utf8')));
    expect(policy.spec.podSelector.matchLabels).toEqual({ app: 'ledger', 'app.kubernetes.io/part-of': 'payments' });
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec.egress?.[0]).toEqual({
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
    });
    expect(policy.metadata.annotations).toMatchObject({
      'outflow/alert-id': ledgerAlert().id,
      'outflow/detection': 'egress_volume_anomaly',
      'outflow/severity': 'high',
      'outflow/reason': 'ledger sent 5.2 GB to 203.0.113.10 in 5 min',
    });
  });

  it('selects by the configured label keys, and names one policy per workload', () => {
    const { exporter } = exporterWith({ directory: '/unused', selectorLabels: ['app'] });
    const a = exporter.policyFor(ledgerAlert({}, 1));
    const b = exporter.policyFor(ledgerAlert({ severity: 'critical' }, 2));
    if (!('policy' in a) || !('policy' in b)) throw new Error('expected policies');
    expect(a.policy.spec.podSelector).toEqual({ matchLabels: { app: 'ledger' } });
    expect(a.policy.spec.policyTypes).toEqual(['Egress']);
    expect(a.policy.metadata.name).toBe(b.policy.metadata.name);
    expect(a.policy.metadata.name).toMatch(/^outflow-quarantine-ledger-[0-9a-f]{10}$/);
  });

  it('never emits an empty pod selector; skips protected namespaces and alerts without a namespace', () => {
    const { exporter } = exporterWith({ directory: '/unused' });
    const noLabels = ledgerAlert({ workload: { namespace: 'payments', workloadName: 'ledger', labels: { 'pod-template-hash': 'x' } } });
    expect(exporter.policyFor(noLabels)).toMatchObject({ skip: 'no_pod_labels' });
    expect(exporter.policyFor(ledgerAlert({ workload: { namespace: 'kube-system', labels: { app: 'coredns' } } }))).toMatchObject({
      skip: 'protected_namespace',
    });
    expect(exporter.policyFor(ledgerAlert({ workload: { pod: 'x', labels: { app: 'x' } } }))).toMatchObject({ skip: 'no_namespace' });
    const onlyWanted = exporterWith({ directory: '/unused', selectorLabels: ['app.kubernetes.io/name'] }).exporter;
    expect(onlyWanted.policyFor(ledgerAlert())).toMatchObject({ skip: 'no_pod_labels' });
  });

  it('the schema rejects what the API server would', () => {
    const built = buildQuarantinePolicy(ledgerAlert(), {
      selectorLabels: [],
      ignoreLabels: [],
      isolateIngress: false,
      allowDns: true,
      dns: { namespace: 'kube-system', podLabels: { 'k8s-app': 'kube-dns' } },
      allowCidrs: [],
      allowNamespaces: [],
      protectedNamespaces: [],
      namePrefix: 'q',
      annotationPrefix: 'outflow',
    }) as { policy: NetworkPolicy };
    const bad = JSON.parse(JSON.stringify(built.policy));
    bad.metadata.name = 'Not_A_Name';
    bad.spec.podSelector.matchLabels.app = 'bad value!';
    bad.spec.policyTypes = ['Egress', 'Sideways'];
    bad.spec.egress[0].ports[0] = { protocol: 'ICMP', port: 70000 };
    bad.spec.egress.push({ to: [{ ipBlock: { cidr: '10.0.0.0/33' }, podSelector: {} }] });
    bad.spec.egress.push({ to: [{}] });
    bad.status = {};
    const paths = validateNetworkPolicy(bad).map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/metadata/name',
        '/spec/podSelector/matchLabels/app',
        '/spec/policyTypes/1',
        '/spec/egress/0/ports/0/protocol',
        '/spec/egress/0/ports/0/port',
        '/spec/egress/1/to/0',
        '/spec/egress/1/to/0/ipBlock/cidr',
        '/spec/egress/2/to/0',
        '/status',
      ]),
    );
    const noSelector = JSON.parse(JSON.stringify(built.policy));
    delete noSelector.spec.podSelector;
    expect(validateNetworkPolicy(noSelector)).toEqual([{ path: '/spec', message: 'missing required property "podSelector"' }]);
  });
});

describe('manifests in a directory', () => {
  it('writes YAML (or JSON) manifests atomically and idempotently, with a decisions log', async () => {
    const dir = tempDir();
    const { exporter, ctx } = exporterWith({ directory: dir });
    const a = ledgerAlert({}, 1);
    await exporter.export([a, ledgerAlert({ severity: 'low' }, 2)], signal());
    await exporter.export([a], signal());
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files).toHaveLength(1);
    const manifest = parseYaml(readFileSync(join(dir, files[0] as string), 'utf8')) as NetworkPolicy;
    expect(validateNetworkPolicy(manifest)).toEqual([]);
    expect(manifest.metadata.annotations?.['outflow/alert-id']).toBe(a.id);
    expect(decisions(dir).map((d) => [d.alertId, d.action])).toEqual([
      [a.id, 'written'],
      [a.id, 'written'],
    ]);
    const json = exporterWith({ directory: dir, format: 'json' });
    await json.exporter.export([a], signal());
    const jsonFile = readdirSync(dir).find((f) => f.endsWith('.json')) as string;
    expect(JSON.parse(readFileSync(join(dir, jsonFile), 'utf8'))).toEqual(manifest);
    expect(ctx.deadLetters).toEqual([]);
  });

  it('logs and counts alerts it cannot contain', async () => {
    const dir = tempDir();
    const { exporter, ctx } = exporterWith({ directory: dir });
    const unlabeled = ledgerAlert({ workload: { namespace: 'payments', workloadName: 'ledger' } });
    await exporter.export([unlabeled], signal());
    expect(readdirSync(dir)).toEqual(['quarantine-decisions.jsonl']);
    expect(decisions(dir)[0]).toMatchObject({ alertId: unlabeled.id, action: 'skipped', reason: expect.stringMatching(/^no_pod_labels/) });
    expect(ctx.telemetry.total('dropped', { reason: 'no_pod_labels' })).toBe(1);
  });

  it('only at or above the chosen severity, and only for the listed detections', async () => {
    const dir = tempDir();
    const { exporter } = exporterWith({ directory: dir, minSeverity: 'critical', detections: ['egress_*'] });
    await exporter.export(
      [
        ledgerAlert({ severity: 'high' }, 1),
        ledgerAlert({ severity: 'critical', detection: { id: 'dns_tunnel', title: 'DNS', attack: T1537 } }, 2),
        ledgerAlert({ severity: 'critical' }, 3),
      ],
      signal(),
    );
    expect(decisions(dir).map((d) => [d.severity, d.detection])).toEqual([['critical', 'egress_volume_anomaly']]);
    expect(exporter.delivery.route).toEqual({ minSeverity: 'critical', detections: ['egress_*'] });
  });

  it('validates its config, every problem with its path', () => {
    expect(() => k8sQuarantine.validate({}, 'exporters[4]')).toThrow(/exporters\[4\]: set directory/);
    expect(() =>
      k8sQuarantine.validate(
        { directory: '/x', minSeverity: 'severe', allowCidrs: ['10.0.0.0/40', { cidr: 'x' }], allowNamespaces: ['Bad_NS'], bogus: 1 },
        'e',
      ),
    ).toThrow(/e\.minSeverity[\s\S]*e\.allowCidrs\[0\][\s\S]*e\.allowCidrs\[1\]\.cidr[\s\S]*e\.allowNamespaces\[0\][\s\S]*e: unknown key "bogus"/);
  });
});

describe('applying through the Kubernetes API (fake API server on loopback)', () => {
  it('dry-run by default: POST with dryRun=All, nothing persisted', async () => {
    const { api, kubeconfig } = await apiServer();
    const { exporter } = exporterWith({ apply: true, kubeconfig });
    await exporter.export([ledgerAlert()], signal());
    await exporter.shutdown();
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]).toMatchObject({
      method: 'POST',
      path: '/apis/networking.k8s.io/v1/namespaces/payments/networkpolicies',
      query: { dryRun: 'All', fieldManager: 'outflow' },
      authorization: 'Bearer test-token',
    });
    expect(api.objects.size).toBe(0);
  });

  it('creates, leaves an identical policy alone, replaces a changed one (idempotent)', async () => {
    const { api, kubeconfig } = await apiServer();
    const dir = tempDir();
    const { exporter } = exporterWith({ apply: true, dryRun: false, kubeconfig, directory: dir });
    const first = ledgerAlert({}, 1);
    await exporter.export([first], signal());
    expect(api.objects.size).toBe(1);
    const [key, stored] = [...api.objects.entries()][0] as unknown as [string, { metadata: { resourceVersion: string; annotations: Record<string, string> } }];
    const rv = stored.metadata.resourceVersion;
    await exporter.export([first], signal()); // same alert again (a retry, a restart)
    expect(api.objects.get(key)?.metadata.resourceVersion).toBe(rv);
    const second = ledgerAlert({ severity: 'critical' }, 2);
    await exporter.export([second], signal());
    const replaced = api.objects.get(key) as unknown as NetworkPolicy & { metadata: { resourceVersion: string } };
    expect(replaced.metadata.resourceVersion).not.toBe(rv);
    expect(replaced.metadata.annotations?.['outflow/alert-id']).toBe(second.id);
    expect(api.objects.size).toBe(1);
    expect(api.requests.map((r) => r.method)).toEqual(['POST', 'POST', 'GET', 'POST', 'GET', 'PUT']);
    const put = api.requests[5] as { body: NetworkPolicy };
    expect(put.body.metadata.resourceVersion).toBe(rv);
    expect(
      decisions(dir)
        .filter((d) => d.action === 'applied')
        .map((d) => d.outcome),
    ).toEqual(['created', 'unchanged', 'replaced']);
  });

  it('coalesces alerts about one workload in a batch into one write, the latest alert winning', async () => {
    const { api, kubeconfig } = await apiServer();
    const dir = tempDir();
    const { exporter } = exporterWith({ apply: true, dryRun: false, kubeconfig, directory: dir });
    const first = ledgerAlert({}, 1);
    const second = ledgerAlert({ severity: 'critical' }, 2);
    await exporter.export([first, second], signal());
    expect(api.writes()).toHaveLength(1);
    const stored = [...api.objects.values()][0] as unknown as NetworkPolicy;
    expect(stored.metadata.annotations?.['outflow/alert-id']).toBe(second.id);
    expect(decisions(dir).map((d) => [d.alertId, d.action, d.outcome])).toEqual([
      [first.id, 'written', undefined],
      [second.id, 'written', undefined],
      [first.id, 'applied', 'created'],
      [second.id, 'applied', 'created'],
    ]);
  });

  it('retries a 500 and a resourceVersion conflict; dead-letters a 403', async () => {
    const { api, kubeconfig } = await apiServer();
    const ctx = createTestContext({ kind: 'exporter', name: 'k8s_quarantine' });
    const exporter = new QuarantineExporter(ctx, k8sQuarantine.validate({ apply: true, dryRun: false, kubeconfig }));
    const runner = new ExportRunner(exporter, ctx, { retry: { maxAttempts: 5, initialDelayMs: 5 } });
    runner.start();
    api.failNext = [500];
    runner.enqueue(ledgerAlert({}, 1));
    await until(() => api.objects.size === 1);
    api.raceAfterGet = true;
    runner.enqueue(ledgerAlert({ severity: 'critical' }, 2));
    await until(() => api.requests.filter((r) => r.method === 'PUT').length === 2 && runner.pending === 0);
    api.failNext = [403];
    const forbidden = ledgerAlert({ workload: { namespace: 'billing', workloadName: 'api', labels: { app: 'api' } } }, 3);
    runner.enqueue(forbidden);
    await runner.drain(AbortSignal.timeout(5_000));
    await exporter.shutdown();
    const statuses = api.requests.map((r) => r.method);
    expect(statuses.filter((m) => m === 'PUT')).toHaveLength(2); // the conflicting PUT, then the retried one
    const name = (exporter.policyFor(ledgerAlert()) as { policy: NetworkPolicy }).policy.metadata.name;
    const stored = api.objects.get(`payments/${name}`) as unknown as NetworkPolicy;
    expect(stored.metadata.annotations?.['outflow/severity']).toBe('critical');
    expect(ctx.deadLetters.map((d) => [d.reason, d.alert?.id])).toEqual([['permanent_error', forbidden.id]]);
    expect(ctx.deadLetters[0]?.message).toContain('HTTP 403');
    expect(ctx.telemetry.total('errors', { reason: 'export_retry' })).toBe(2);
  });

  it('end to end: a pipeline contains the workload of a high alert; the API server admits the policy', async () => {
    const { api, kubeconfig } = await apiServer();
    const workload = {
      cluster: 'c1',
      namespace: 'shop',
      workloadKind: 'Deployment',
      workloadName: 'cart',
      labels: { app: 'cart', 'pod-template-hash': 'abc' },
    };
    const events = [flowEvent({ bytes: 10, workload }), flowEvent({ bytes: 9_000_000_000, workload })];
    const pipeline = createPipeline({
      receivers: [new MemoryReceiver(events)],
      detections: [
        rule({
          id: 'big_egress',
          title: 'Big egress',
          severity: 'low',
          kinds: ['network_flow'],
          match: (e) => ({ severity: (e.bytes ?? 0) > 1e9 ? 'critical' : 'low', dedupKey: String(e.bytes), explanation: { summary: `sent ${e.bytes} bytes` } }),
        }),
      ],
      exporters: [k8sQuarantine({ apply: true, dryRun: false, kubeconfig, allowNamespaces: ['monitoring'] })],
    });
    await pipeline.start();
    await pipeline.done;
    await pipeline.shutdown();
    expect(api.writes()).toHaveLength(1);
    const stored = [...api.objects.values()][0] as unknown as NetworkPolicy;
    expect(stored.metadata.namespace).toBe('shop');
    expect(stored.spec.podSelector).toEqual({ matchLabels: { app: 'cart' } });
    expect(stored.metadata.annotations?.['outflow/reason']).toBe('sent 9000000000 bytes');
    expect(stored.spec.egress?.[1]).toEqual({ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] });
    expect(pipeline.telemetry.total('dropped', { component: 'k8s_quarantine', reason: 'filtered' })).toBe(1);
  });
});

describe('connection settings', () => {
  it('reads a kubeconfig (current context or a named one), refusing exec plugins', () => {
    const dir = tempDir();
    const path = join(dir, 'config');
    writeFileSync(path, new FakeApiServer('tok').kubeconfig().replace('http://127.0.0.1:0', 'http://127.0.0.1:6443'));
    expect(loadKubeconfig(path)).toEqual({ server: 'http://127.0.0.1:6443', token: 'tok' });
    expect(() => loadKubeconfig(path, 'other')).toThrow(/exec or auth-provider plugin/);
    expect(() => loadKubeconfig(path, 'missing')).toThrow(/context "missing" not found/);
  });

  it('uses the in-cluster service account', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'token'), 'sa-token\n');
    writeFileSync(join(dir, 'ca.crt'), 'CA');
    expect(inClusterConnection(dir, { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' })).toEqual({
      server: 'https://10.96.0.1:443',
      token: 'sa-token',
      ca: Buffer.from('CA'),
    });
    expect(() => inClusterConnection(dir, {})).toThrow(/KUBERNETES_SERVICE_HOST/);
  });
});

defineConformanceTests(
  'k8s_quarantine exporter conformance',
  exporterConformance({
    factory: k8sQuarantine,
    defaultConfigRequiresInput: true,
    async setup(env) {
      return { config: { directory: env.dir, minSeverity: 'informational' }, received: async () => decisions(env.dir).map((d) => d.alertId) };
    },
  }),
);
