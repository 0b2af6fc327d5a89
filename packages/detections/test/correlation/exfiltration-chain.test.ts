import type { Alert, Finding, OutflowEvent, Severity } from '@outflow/core';
import { alert as alertOf } from '@outflow/testkit';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { exfiltrationChain } from '../../src/analytics/correlation/exfiltration-chain.js';
import { alertCategories, DEFAULT_STAGES, StageClassifier } from '../../src/analytics/correlation/stages.js';
import { analyticEnv, createEnvironment, t1537Config } from '../../src/index.js';
import { manualContext } from '../network/helpers.js';

const T0 = Date.UTC(2024, 4, 6, 8, 0, 0);
const MIN = 60_000;
const POD = { cluster: 'prod', namespace: 'shop', workloadKind: 'Pod', workloadName: 'debug-7f9c', pod: 'debug-7f9c' };
const OTHER = { cluster: 'prod', namespace: 'shop', workloadKind: 'ReplicaSet', workloadName: 'api-5d9c7b8f4', pod: 'api-5d9c7b8f4-x2x9q' };

interface Spec {
  id: string;
  detection: string;
  minute: number;
  workload?: typeof POD | undefined;
  categories?: string[];
  user?: string;
  severity?: Severity;
}

function member(s: Spec): Alert {
  const a = alertOf({
    detection: { id: s.detection, title: s.detection, attack: { technique: 'T1537', tactic: 'TA0010' } },
    time: T0 + s.minute * MIN,
    severity: s.severity ?? 'medium',
    evidence: [{ source: 'test', id: `ev-${s.id}` }],
    dedupKey: s.id,
    explanation: { summary: `${s.detection} ${s.id}` },
    ...(s.workload ? { workload: s.workload } : {}),
    attributes: { ...(s.categories ? { 'exec.payload.categories': s.categories } : {}), ...(s.user ? { 'user.name': s.user } : {}) },
  });
  return { ...a, id: s.id };
}

const CHAIN: Spec[] = [
  { id: 'exec', detection: 'pod_exec', minute: 2, workload: POD, user: 'mallory' },
  { id: 'token', detection: 'exec_payload', minute: 4, workload: POD, categories: ['sensitive_read'] },
  { id: 'secrets', detection: 'secret_harvesting', minute: 5, user: 'mallory' },
  { id: 'tar', detection: 'exec_payload', minute: 7, workload: POD, categories: ['archive'] },
  { id: 'upload', detection: 'exec_payload', minute: 9, workload: POD, categories: ['upload'], severity: 'high' },
  { id: 'egress', detection: 'egress_volume_anomaly', minute: 14, workload: POD },
];

function harness(params: Record<string, unknown> = {}) {
  const config = t1537Config({ cluster: { name: 'prod' }, analytics: { exfiltration_chain: { params } } });
  const detection = exfiltrationChain.create(analyticEnv(exfiltrationChain, createEnvironment(config), config));
  const ctx = manualContext('exfiltration_chain');
  const input = new Subject<OutflowEvent>();
  const out: Finding[] = [];
  detection.connect(input, ctx).subscribe((f) => out.push(f));
  return { ctx, input, out };
}

describe('exfiltration_chain: one incident from member alerts, decided on event time', () => {
  it('foothold → data access → egress in one workload: one high incident referencing every member, with the union of their evidence', () => {
    const h = harness();
    for (const s of CHAIN) h.ctx.alerts.next(member(s));
    expect(h.out).toEqual([]); // not before the watermark passes the exfiltration step plus the settle time
    h.ctx.wm.next(T0 + 9 * MIN + 15 * MIN - 1);
    expect(h.out).toEqual([]);
    h.ctx.wm.next(T0 + 9 * MIN + 15 * MIN);
    expect(h.out).toHaveLength(1);
    const f = h.out[0] as Finding;
    expect(f.detection.id).toBe('exfiltration_chain');
    expect(f.severity).toBe('high');
    expect(f.related).toEqual(['exec', 'token', 'secrets', 'tar', 'upload', 'egress']);
    expect(f.evidence.map((e) => e.id)).toEqual(['ev-exec', 'ev-token', 'ev-secrets', 'ev-tar', 'ev-upload', 'ev-egress']);
    expect(f.workload).toEqual(POD);
    expect(f.time).toBe(T0 + 14 * MIN);
    expect(f.dedupKey).toBe(`prod/shop/debug-7f9c|${new Date(T0 + 2 * MIN).toISOString()}`);
    expect(f.explanation.summary).toBe(
      'Exfiltration chain in shop/debug-7f9c within 12 min: foothold: pod_exec; data access: exec_payload, secret_harvesting; exfiltration: exec_payload, egress_volume_anomaly.',
    );
    expect(f.attributes).toMatchObject({ 'outflow.chain.stages': ['foothold=1', 'collection=3', 'exfiltration=2'], 'user.name': 'mallory' });
    expect(f.response?.contain?.length).toBeGreaterThan(0);
    // Nothing more for this chain, whatever arrives later.
    h.ctx.alerts.next(member({ id: 'egress2', detection: 'egress_volume_anomaly', minute: 20, workload: POD }));
    h.ctx.wm.next(T0 + 60 * MIN);
    expect(h.out).toHaveLength(1);
  });

  it('arrival order does not matter: every permutation of the members gives the same incident', () => {
    const orders = [CHAIN, [...CHAIN].reverse(), [CHAIN[5], CHAIN[2], CHAIN[0], CHAIN[4], CHAIN[1], CHAIN[3]] as Spec[]];
    const results = orders.map((order) => {
      const h = harness();
      for (const s of order) h.ctx.alerts.next(member(s));
      h.ctx.wm.next(T0 + 2 * 60 * MIN);
      return h.out.map((f) => ({ related: f.related, evidence: f.evidence, time: f.time, dedupKey: f.dedupKey }));
    });
    expect(results[0]).toHaveLength(1);
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
  });

  it('members raised after the chain completed but before it settles are part of the incident', () => {
    const h = harness();
    for (const s of CHAIN.slice(0, 5)) h.ctx.alerts.next(member(s));
    h.ctx.wm.next(T0 + 12 * MIN); // complete (upload at 9), not settled
    h.ctx.alerts.next(member(CHAIN[5] as Spec)); // the egress window closes later
    h.ctx.wm.next(T0 + 30 * MIN);
    expect(h.out[0]?.related).toContain('egress');
  });

  it('a late member arriving after the watermark passed is judged at once', () => {
    const h = harness();
    h.ctx.wm.next(T0 + 3 * 60 * MIN);
    for (const s of CHAIN) h.ctx.alerts.next(member(s));
    expect(h.out).toHaveLength(1);
  });

  it('no incident without every stage, out of order beyond the tolerance, or spread over more than the window', () => {
    const missing = harness();
    for (const s of CHAIN.filter((c) => !['token', 'secrets', 'tar'].includes(c.id))) missing.ctx.alerts.next(member(s));
    missing.ctx.wm.next(T0 + 3 * 60 * MIN);
    expect(missing.out).toEqual([]);

    const backwards = harness();
    backwards.ctx.alerts.next(member({ id: 'up', detection: 'egress_volume_anomaly', minute: 0, workload: POD }));
    backwards.ctx.alerts.next(member({ id: 'read', detection: 'exec_payload', minute: 20, workload: POD, categories: ['sensitive_read'] }));
    backwards.ctx.alerts.next(member({ id: 'exec', detection: 'pod_exec', minute: 40, workload: POD }));
    backwards.ctx.wm.next(T0 + 3 * 60 * MIN);
    expect(backwards.out).toEqual([]);

    const spread = harness();
    spread.ctx.alerts.next(member({ id: 'exec', detection: 'pod_exec', minute: 0, workload: POD }));
    spread.ctx.alerts.next(member({ id: 'read', detection: 'kubectl_cp', minute: 60, workload: POD }));
    spread.ctx.alerts.next(member({ id: 'up', detection: 'new_external_destination', minute: 121, workload: POD }));
    spread.ctx.wm.next(T0 + 5 * 60 * MIN);
    expect(spread.out).toEqual([]);
  });

  it('stages of different workloads do not combine; the same chain in two workloads gives two incidents', () => {
    const h = harness();
    h.ctx.alerts.next(member({ id: 'exec', detection: 'pod_exec', minute: 1, workload: POD }));
    h.ctx.alerts.next(member({ id: 'read', detection: 'kubectl_cp', minute: 2, workload: OTHER }));
    h.ctx.alerts.next(member({ id: 'up', detection: 'egress_volume_anomaly', minute: 3, workload: POD }));
    h.ctx.wm.next(T0 + 30 * MIN);
    expect(h.out).toEqual([]);
    h.ctx.alerts.next(member({ id: 'exec2', detection: 'pod_exec', minute: 1, workload: OTHER }));
    h.ctx.alerts.next(member({ id: 'up2', detection: 'cloud_storage_foreign_transfer', minute: 4, workload: OTHER }));
    h.ctx.alerts.next(member({ id: 'read2', detection: 'kubectl_cp', minute: 2, workload: POD }));
    expect(h.out.map((f) => f.dedupKey.split('|')[0])).toEqual(['prod/shop/api', 'prod/shop/debug-7f9c']);
  });

  it('a workload id ignores what each sensor calls the controller: ReplicaSet api-5d9c7b8f4 and Deployment api are one workload', () => {
    const h = harness();
    h.ctx.alerts.next(member({ id: 'exec', detection: 'pod_exec', minute: 1, workload: OTHER }));
    h.ctx.alerts.next(
      member({
        id: 'read',
        detection: 'exec_payload',
        minute: 2,
        workload: { ...OTHER, workloadKind: 'Deployment', workloadName: 'api' },
        categories: ['sensitive_read'],
      }),
    );
    h.ctx.alerts.next(
      member({
        id: 'up',
        detection: 'egress_volume_anomaly',
        minute: 3,
        workload: { namespace: 'shop', workloadKind: 'Deployment', workloadName: 'api' } as typeof POD,
      }),
    );
    h.ctx.wm.next(T0 + 60 * MIN);
    expect(h.out.map((f) => f.related)).toEqual([['exec', 'read', 'up']]);
  });

  it('ignores its own alerts, denied execs, updates of known alerts, and alerts of analytics that are no stage', () => {
    const h = harness();
    h.ctx.alerts.next({ ...member({ id: 'exec', detection: 'pod_exec', minute: 1, workload: POD }), tags: ['denied'] });
    h.ctx.alerts.next(member({ id: 'read', detection: 'kubectl_cp', minute: 2, workload: POD }));
    h.ctx.alerts.next(member({ id: 'up', detection: 'egress_volume_anomaly', minute: 3, workload: POD }));
    h.ctx.alerts.next(member({ id: 'x', detection: 'some_other_rule', minute: 1, workload: POD }));
    h.ctx.alerts.next(member({ id: 'self', detection: 'exfiltration_chain', minute: 1, workload: POD }));
    h.ctx.wm.next(T0 + 60 * MIN);
    expect(h.out).toEqual([]);
    h.ctx.alerts.next({ ...member({ id: 'read', detection: 'kubectl_cp', minute: 2, workload: POD }), status: 'update', count: 2 });
    expect(h.out).toEqual([]);
  });

  it('a critical member raises the incident to critical', () => {
    const h = harness();
    for (const s of CHAIN) h.ctx.alerts.next(member(s.id === 'upload' ? { ...s, severity: 'critical' } : s));
    h.ctx.wm.next(T0 + 60 * MIN);
    expect(h.out[0]?.severity).toBe('critical');
  });

  it('ends with its input: chains still settling are reported', () => {
    const h = harness();
    let completed = false;
    for (const s of CHAIN) h.ctx.alerts.next(member(s));
    h.ctx.wm.next(T0 + 10 * MIN);
    // +Infinity (every receiver done, queued events still coming) does not settle anything by itself.
    h.ctx.wm.next(Number.POSITIVE_INFINITY);
    expect(h.out).toEqual([]);
    h.out.length = 0;
    const sub = { done: () => (completed = true) };
    h.input.subscribe({ complete: sub.done });
    h.input.complete();
    expect(completed).toBe(true);
    expect(h.out).toHaveLength(1);
  });

  it('bounded state: members per stage and workloads are capped', () => {
    const h = harness({ maxWorkloads: 3, maxMembersPerStage: 2 });
    for (let i = 0; i < 10; i++)
      h.ctx.alerts.next(member({ id: `e${i}`, detection: 'pod_exec', minute: i, workload: { ...POD, workloadName: `w${i}`, pod: `w${i}` } }));
    expect(h.ctx.states.get('chains')?.size).toBeLessThanOrEqual(3);
    for (let i = 0; i < 10; i++) h.ctx.alerts.next(member({ id: `r${i}`, detection: 'kubectl_cp', minute: i, workload: POD }));
    expect(h.ctx.telemetry.total('dropped', { reason: 'chain_member_cap' })).toBe(8);
  });
});

describe('stage classification', () => {
  const classifier = new StageClassifier(DEFAULT_STAGES);
  const stages = (detection: string, categories?: string[], tags?: string[]) =>
    classifier.stagesOf({
      detection: { id: detection, title: detection, attack: { technique: 'T1537', tactic: 'TA0010' } },
      attributes: categories ? { 'exec.payload.categories': categories } : {},
      tags: tags ?? [],
    });

  it('maps analytics to stages, and exec_payload by the categories of its finding', () => {
    expect(stages('pod_exec')).toEqual(['foothold']);
    expect(stages('untrusted_image_sensitive_access')).toEqual(['foothold']);
    expect(stages('secret_harvesting')).toEqual(['collection']);
    expect(stages('kubectl_cp')).toEqual(['collection']);
    expect(stages('egress_volume_anomaly')).toEqual(['exfiltration']);
    expect(stages('ebs_snapshot_shared')).toEqual(['exfiltration']);
    expect(stages('exec_payload', ['sensitive_read'])).toEqual(['collection']);
    expect(stages('exec_payload', ['archive', 'network_tool'])).toEqual(['collection', 'exfiltration']);
    expect(stages('exec_payload', ['reverse_shell'])).toEqual(['foothold']);
    expect(stages('exec_payload', [], ['upload'])).toEqual(['exfiltration']);
    expect(stages('exec_payload', ['interactive_shell'])).toEqual(['foothold']);
    expect(stages('exec_payload')).toEqual([]);
    expect(stages('nothing_known')).toEqual([]);
  });

  it('reads categories from *.category / *.categories attributes and tags', () => {
    expect([...alertCategories({ attributes: { 'x.category': 'a', 'y.categories': ['b', 'c'], other: 'd' }, tags: ['e'] })].sort()).toEqual([
      'a',
      'b',
      'c',
      'e',
    ]);
  });

  it('the stage map is configuration, validated strictly', () => {
    expect(() => t1537Config({ analytics: { exfiltration_chain: { params: { stages: { foothold: ['x'], nope: [] } } } } })).toThrow(
      /analytics\.exfiltration_chain\.params\.stages/,
    );
    const config = t1537Config({ analytics: { exfiltration_chain: { params: { stages: { collection: ['my_dlp_rule'] } } } } });
    const stages = (config.analytics.exfiltration_chain?.params as { stages: typeof DEFAULT_STAGES } | undefined)?.stages;
    expect(stages?.collection).toEqual(['my_dlp_rule']);
    expect(stages?.foothold).toEqual(DEFAULT_STAGES.foothold);
  });
});
