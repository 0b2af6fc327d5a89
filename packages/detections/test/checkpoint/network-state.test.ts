import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Alert,
  type Detection,
  eventRef,
  FileCheckpointStore,
  type Finding,
  type NetworkFlowEvent,
  type OutflowEvent,
  type PipelineCheckpoint,
  T1537,
  type WorkloadIdentity,
} from '@outflow/core';
import { cloudCall, flowEvent, processExec } from '@outflow/testkit';
import { mergeMap, Subject } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exfiltrationChain } from '../../src/analytics/correlation/exfiltration-chain.js';
import { cloudStorageForeignTransfer } from '../../src/analytics/network/cloud-storage-foreign-transfer.js';
import { egressVolumeAnomaly } from '../../src/analytics/network/egress-volume-anomaly.js';
import { newExternalDestination } from '../../src/analytics/network/new-external-destination.js';
import { CheckpointFormatError } from '../../src/enrich/checkpoint.js';
import { analyticEnv, createEnvironment, type T1537ConfigInput, t1537Config } from '../../src/index.js';
import { OURS } from '../helpers.js';
import { manualContext } from '../network/helpers.js';
import { type PhaseResult, type Restart, restartAt } from './helpers.js';

/**
 * The network analytics and the correlation across a restart, one at a
 * time: state built before the restart (open windows, upload commands,
 * flows held for ordering, first contacts, chain members) makes the finding
 * after it; the control resumes from the same checkpoint without that state
 * and misses it. An unreadable state is counted and relearned, the rest of
 * the checkpoint is restored, and restored structures keep their caps.
 */

const T = Date.parse('2024-05-06T10:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const ORG: T1537ConfigInput = {
  organization: { accounts: [OURS] },
  cluster: { name: 'prod', podCidrs: ['10.42.0.0/16'] },
  destinations: { cloudRanges: { prefixes: [{ prefix: '52.218.0.0/17', service: 'S3', region: 'eu-west-1' }] } },
};

let dir: string;
let stores = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'outflow-checkpoint-network-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `restartAt` with a fresh checkpoint store under this file's directory and the default configuration. */
function restart(
  events: readonly OutflowEvent[],
  cut: number,
  options: { config?: T1537ConfigInput; mangle?: (c: PipelineCheckpoint) => void; probe?: Detection } = {},
): Promise<Restart> {
  const store = new FileCheckpointStore(join(dir, `store-${++stores}`, 'checkpoint.json'));
  return restartAt(events, cut, store, { ...options, config: options.config ?? ORG });
}

const of = (alerts: readonly Alert[], id: string) => alerts.filter((a) => a.detection.id === id);
function state(c: PipelineCheckpoint, owner: string, name: string): Record<string, unknown> {
  const entry = c.detections[owner]?.[name];
  if (!entry) throw new Error(`no state ${owner}/${name} in the checkpoint`);
  return entry.state as Record<string, unknown>;
}
const strip =
  (owner: string, ...names: string[]) =>
  (c: PipelineCheckpoint) => {
    if (names.length === 0) delete c.detections[owner];
    else for (const n of names) delete c.detections[owner]?.[n];
  };
const restoreFailed = (r: PhaseResult, component: string) => r.total('errors', { component, reason: 'checkpoint_restore_failed' });
type Windows = { watermark: number | null; windows: [number, [string, unknown, number][]][] };

const pod = (namespace: string, name: string): WorkloadIdentity => ({ cluster: 'prod', namespace, pod: name });
const flow = (time: number, id: string, workload: WorkloadIdentity, address: string, bytes: number, srcAddress = '10.42.0.7'): NetworkFlowEvent =>
  flowEvent({ time, sourceId: id, src: { address: srcAddress, port: 40000, workload }, dst: { address, port: 443 }, bytes });

describe('egress_volume_anomaly across a restart', () => {
  const api = pod('shop', 'api-0');
  // A new workload (no baseline) sends 300 MB twice in one 5-minute window: 600 MB crosses the 500 MB learning cap.
  const events = [flow(T + MIN, 'a', api, '203.0.113.9', 300_000_000), flow(T + 2 * MIN, 'b', api, '203.0.113.9', 300_000_000)];

  it('a window open at the restart (not flushed at shutdown) is completed by the resumed run', async () => {
    const r = await restart(events, 1);
    const windows = state(r.checkpoint, 'egress_volume_anomaly', 'windows') as unknown as Windows;
    expect(windows.windows.map(([end, cells]) => [end, cells.map(([key, , count]) => [key, count])])).toEqual([[T + 5 * MIN, [['prod/shop/api-0', 1]]]]);
    expect(of(r.first.alerts, 'egress_volume_anomaly')).toEqual([]);
    expect(
      of(r.second.alerts, 'egress_volume_anomaly').map((a) => [a.dedupKey, a.attributes?.['outflow.egress.bytes'], a.tags?.includes('learning_cap')]),
    ).toEqual([['prod/shop/api-0|external', 600_000_000, true]]);
    // Without the window, the resumed run sums only the second 300 MB: under the cap.
    const control = await restart(events, 1, { mangle: strip('egress_volume_anomaly', 'windows') });
    expect(of(control.second.alerts, 'egress_volume_anomaly')).toEqual([]);
  });

  it('unreadable windows are counted and relearned; the baselines are restored all the same', async () => {
    const r = await restart(events, 1, {
      mangle: (c) => {
        const s = state(c, 'egress_volume_anomaly', 'windows') as unknown as Windows;
        (s.windows[0] as [number, [string, unknown, number][]])[1][0] = ['prod/shop/api-0', { workload: {}, groups: [['somewhere', {}, 0, [], []]] }, 1];
      },
    });
    expect(restoreFailed(r.second, 'egress_volume_anomaly')).toBe(1);
    expect(r.second.total('errors', { reason: 'checkpoint_restore_failed' })).toBe(1);
    expect(of(r.second.alerts, 'egress_volume_anomaly')).toEqual([]);
    expect(r.second.deadLetter.entries()).toEqual([]);
  });
});

describe('new_external_destination across a restart', () => {
  const api = pod('shop', 'api-0');
  // Activity (to another pod) starts the workload's and the cluster's learning windows; two hours later a contact to an
  // address nobody contacted, held for ordering (the watermark is two minutes behind it) when the pipeline stops.
  const events = [
    flow(T, 'inside', api, '10.42.0.99', 1_000),
    flow(T + 2 * HOUR, 'new', api, '203.0.113.50', 5_000),
    flow(T + 2 * HOUR + 10 * MIN, 'inside-2', api, '10.42.0.99', 1_000),
  ];

  it('a flow held for ordering is judged after the restart, against the learning windows learned before it', async () => {
    const r = await restart(events, 2);
    const held = state(r.checkpoint, 'new_external_destination', 'order_buffer') as { items: { wid: string; dest: string; event: OutflowEvent }[] };
    expect(held.items.map((c) => [c.wid, c.dest, c.event.sourceId])).toEqual([['prod/shop/api-0', '203.0.113.50', 'new']]);
    const learned = state(r.checkpoint, 'new_external_destination', 'first_seen') as { activity: { key: string; value: number }[] };
    expect(learned.activity.map((a) => [a.key, a.value])).toEqual([['prod/shop/api-0', T]]);
    expect(of(r.first.alerts, 'new_external_destination')).toEqual([]);
    expect(
      of(r.second.alerts, 'new_external_destination').map((a) => [a.dedupKey, a.attributes?.['outflow.novelty.level'], a.explanation.baselineAgeMs]),
    ).toEqual([['prod/shop/api-0|203.0.113.50', 'cluster', 2 * HOUR]]);
    // Without the held flow it is lost; without the learning windows it is judged as the first flow of a new cluster.
    const lost = await restart(events, 2, { mangle: strip('new_external_destination', 'order_buffer') });
    expect(of(lost.second.alerts, 'new_external_destination')).toEqual([]);
    const relearned = await restart(events, 2, { mangle: strip('new_external_destination', 'first_seen') });
    expect(of(relearned.second.alerts, 'new_external_destination')).toEqual([]);
  });

  it('an unreadable first-seen set is counted and relearned; the held flow is still judged', async () => {
    const r = await restart(events, 2, {
      mangle: (c) => {
        const s = state(c, 'new_external_destination', 'first_seen') as { clusters: { value: { counts: { counters: unknown[] } } }[] };
        const cluster = s.clusters[0];
        if (cluster) cluster.value.counts.counters = cluster.value.counts.counters.slice(1);
      },
    });
    expect(restoreFailed(r.second, 'new_external_destination')).toBe(1);
    expect(r.second.total('errors', { reason: 'checkpoint_restore_failed' })).toBe(1);
    // Relearned: the cluster's learning window starts at the held flow, which is then no finding.
    expect(of(r.second.alerts, 'new_external_destination')).toEqual([]);
    expect(r.second.deadLetter.entries()).toEqual([]);
  });
});

describe('cloud_storage_foreign_transfer across a restart', () => {
  const etl = pod('data', 'etl-0');
  const upload = processExec({
    time: T + MIN,
    source: 'tetragon',
    sourceId: 'cp',
    process: { pid: 7, executable: '/usr/local/bin/aws', args: ['aws', 's3', 'cp', '/tmp/customers.csv.gz', 's3://drop-zone/2024/'], execId: 'exec-cp' },
    workload: { ...etl, container: 'etl', image: 'registry.example/etl:1' },
  });
  // The command names a bucket that is not ours; 60 MB then 60 MB to S3 ranges in one 10-minute window: 120 MB ≥ 100 MB.
  const events = [upload, flow(T + 2 * MIN, 's3-1', etl, '52.218.1.10', 60_000_000), flow(T + 3 * MIN, 's3-2', etl, '52.218.1.10', 60_000_000)];

  it('the command and the open window from before the restart make the finding with the bytes after it', async () => {
    const r = await restart(events, 2);
    const commands = state(r.checkpoint, 'cloud_storage_foreign_transfer', 'commands') as {
      commands: { key: string; value: { upload: { bucket: string } }[] }[];
    };
    expect(commands.commands.map((c) => [c.key, c.value.map((a) => a.upload.bucket)])).toEqual([['prod/data/etl-0', ['drop-zone']]]);
    const windows = state(r.checkpoint, 'cloud_storage_foreign_transfer', 'windows') as unknown as Windows;
    expect(windows.windows.map(([end, cells]) => [end, cells.map(([key, , count]) => [key, count])])).toEqual([[T + 10 * MIN, [['prod/data/etl-0', 1]]]]);
    expect(of(r.first.alerts, 'cloud_storage_foreign_transfer')).toEqual([]);
    const [found] = of(r.second.alerts, 'cloud_storage_foreign_transfer');
    expect(found?.dedupKey).toBe('prod/data/etl-0|s3://drop-zone');
    expect(found?.attributes?.['outflow.storage.bytes']).toBe(120_000_000);
    expect(found?.evidence.map((e) => e.id)).toEqual(['cp', 's3-1', 's3-2']);
    // Without the command, nothing names the bucket; without the window, 60 MB is below the threshold.
    const noCommand = await restart(events, 2, { mangle: strip('cloud_storage_foreign_transfer', 'commands') });
    expect(of(noCommand.second.alerts, 'cloud_storage_foreign_transfer')).toEqual([]);
    const noWindow = await restart(events, 2, { mangle: strip('cloud_storage_foreign_transfer', 'windows') });
    expect(of(noWindow.second.alerts, 'cloud_storage_foreign_transfer')).toEqual([]);
  });

  it('an unreadable command is counted and relearned; the window is restored all the same', async () => {
    const r = await restart(events, 2, {
      mangle: (c) => {
        const s = state(c, 'cloud_storage_foreign_transfer', 'commands') as { commands: { value: Record<string, unknown>[] }[] };
        const first = s.commands[0]?.value[0];
        if (first) first.upload = { tool: 'ftp', provider: 'aws', bucket: 'drop-zone', destination: 's3://drop-zone/' };
      },
    });
    expect(restoreFailed(r.second, 'cloud_storage_foreign_transfer')).toBe(1);
    expect(r.second.total('errors', { reason: 'checkpoint_restore_failed' })).toBe(1);
    expect(of(r.second.alerts, 'cloud_storage_foreign_transfer')).toEqual([]);
    expect(r.second.deadLetter.entries()).toEqual([]);
  });
});

describe('exfiltration_chain across a restart', () => {
  const victim = pod('shop', 'api-0');
  /** Raises a member alert of the stage its event names (`sourceId`), in the victim workload. */
  const probe: Detection = {
    id: 'probe',
    title: 'chain members',
    kinds: ['cloud_api_call'],
    connect: (events$) =>
      events$.pipe(
        mergeMap((e): Finding[] => {
          const id = e.sourceId ?? '';
          const stage = id.split('-')[0] as string;
          if (!['foothold', 'collection', 'exfiltration'].includes(stage)) return [];
          return [
            {
              detection: { id: 'probe', title: 'chain members', attack: T1537 },
              severity: 'medium',
              time: e.time,
              workload: victim,
              evidence: [eventRef(e)],
              dedupKey: id,
              explanation: { summary: `${stage} in shop/api-0` },
              tags: [stage],
            },
          ];
        }),
      ),
  };
  const config: T1537ConfigInput = {
    ...ORG,
    analytics: {
      exfiltration_chain: { params: { stages: { foothold: ['probe:foothold'], collection: ['probe:collection'], exfiltration: ['probe:exfiltration'] } } },
    },
  };
  const step = (time: number, id: string) => cloudCall({ time, sourceId: id, operation: 'DescribeInstances' });
  const events = [step(T, 'foothold-1'), step(T + 5 * MIN, 'collection-1'), step(T + 10 * MIN, 'exfiltration-1'), step(T + 40 * MIN, 'later')];
  const incidents = (r: Restart) => [...r.first.alerts, ...r.second.alerts].filter((a) => a.detection.id === 'exfiltration_chain' && a.status === 'new');

  it('members seen before the restart complete the chain with the step after it', async () => {
    const r = await restart(events, 2, { config, probe });
    const chains = state(r.checkpoint, 'exfiltration_chain', 'chains') as { chains: { key: string; value: { members: Record<string, unknown[]> } }[] };
    expect(chains.chains.map((c) => [c.key, c.value.members.foothold?.length, c.value.members.collection?.length])).toEqual([['prod/shop/api-0', 1, 1]]);
    const [incident] = incidents(r);
    expect(incident?.evidence.map((e) => e.id)).toEqual(['foothold-1', 'collection-1', 'exfiltration-1']);
    expect(incident?.related).toHaveLength(3);
    const control = await restart(events, 2, { config, probe, mangle: strip('exfiltration_chain') });
    expect(incidents(control)).toEqual([]);
  });

  it('a chain complete but still settling at the restart is reported once, after it', async () => {
    const r = await restart(events, 3, { config, probe });
    expect((state(r.checkpoint, 'exfiltration_chain', 'chains') as { dirty: string[] }).dirty).toEqual(['prod/shop/api-0']);
    expect(of(r.first.alerts, 'exfiltration_chain')).toEqual([]);
    expect(of(r.second.alerts, 'exfiltration_chain').map((a) => [a.status, a.evidence.length])).toEqual([['new', 3]]);
  });

  it('an unreadable chain is counted and relearned', async () => {
    const r = await restart(events, 2, {
      config,
      probe,
      mangle: (c) => {
        const s = state(c, 'exfiltration_chain', 'chains') as { chains: { value: { members: { foothold: Record<string, unknown>[] } } }[] };
        const m = s.chains[0]?.value.members.foothold[0];
        if (m) m.stage = 'exfiltration';
      },
    });
    expect(restoreFailed(r.second, 'exfiltration_chain')).toBe(1);
    expect(incidents(r)).toEqual([]);
    expect(r.second.deadLetter.entries()).toEqual([]);
  });
});

describe('restored state keeps its bounds, and an unreadable snapshot changes nothing', () => {
  function connect(
    analytic: typeof egressVolumeAnomaly | typeof newExternalDestination | typeof cloudStorageForeignTransfer | typeof exfiltrationChain,
    params: Record<string, unknown>,
  ) {
    const config = t1537Config({ ...ORG, analytics: { [analytic.id]: { params } } });
    const detection = analytic.create(analyticEnv(analytic, createEnvironment(config), config));
    const ctx = manualContext(analytic.id);
    const input = new Subject<OutflowEvent>();
    const out: Finding[] = [];
    detection.connect(input, ctx).subscribe((f) => out.push(f));
    return { ctx, input, out };
  }
  const json = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
  /** The snapshot of a registered handle, as plain data. */
  const snap = <T>(ctx: ReturnType<typeof manualContext>, name: string): T => {
    const handle = ctx.checkpoints.get(name);
    if (!handle) throw new Error(`no checkpoint ${name}`);
    return json(handle.snapshot()) as T;
  };

  it('egress windows: at most maxOpenWindows cells come back (the rest counted); a bad snapshot throws before anything changes', () => {
    const a = connect(egressVolumeAnomaly, {});
    for (let i = 0; i < 3; i++) a.input.next(flow(T + i * MIN, `f${i}`, pod('shop', `w${i}`), '203.0.113.9', 1_000));
    const saved = json(a.ctx.checkpoints.get('windows')?.snapshot()) as Windows;
    expect(saved.windows[0]?.[1]).toHaveLength(3);
    const b = connect(egressVolumeAnomaly, { maxOpenWindows: 2 });
    b.ctx.checkpoints.get('windows')?.restore(saved);
    expect(b.ctx.telemetry.total('dropped', { reason: 'window_cap' })).toBe(1);
    expect(snap<Windows>(b.ctx, 'windows').windows[0]?.[1].map(([key]) => key)).toEqual(['prod/shop/w0', 'prod/shop/w1']);
    const bad = json(saved);
    (bad.windows[0] as [number, [string, unknown, number][]])[1][2] = ['prod/shop/w2', { workload: { pod: 7 }, groups: [] }, 1];
    expect(() => b.ctx.checkpoints.get('windows')?.restore(bad)).toThrow(CheckpointFormatError);
    expect(() =>
      b.ctx.checkpoints.get('baselines')?.restore({ version: 1, maxTime: null, entries: [{ key: 'k', touched: T, value: { state: { n: 1 } } }] }),
    ).toThrow(CheckpointFormatError);
    expect(snap<Windows>(b.ctx, 'windows').windows[0]?.[1]).toHaveLength(2);
  });

  it('new_external_destination: the workload cap and the order buffer’s cap hold after a restore; a filter of the wrong size is refused', () => {
    const a = connect(newExternalDestination, {});
    for (let i = 0; i < 6; i++) {
      const f = flow(T + i * MIN, `f${i}`, pod('shop', `w${i}`), '203.0.113.9', 1_000);
      f.attributes = { 'destination.class': 'external' };
      a.input.next(f);
    }
    const firstSeen = json(a.ctx.checkpoints.get('first_seen')?.snapshot()) as { workloads: unknown[]; activity: unknown[]; clusters: unknown[] };
    const held = json(a.ctx.checkpoints.get('order_buffer')?.snapshot()) as { items: { event: OutflowEvent }[] };
    expect(held.items).toHaveLength(6);
    const b = connect(newExternalDestination, { maxWorkloads: 4, maxBuffer: 4 });
    b.ctx.checkpoints.get('first_seen')?.restore(firstSeen);
    b.ctx.checkpoints.get('order_buffer')?.restore(held);
    expect(b.ctx.states.get('activity')?.size).toBe(4);
    expect(b.ctx.states.get('order_buffer')?.size).toBe(4);
    expect(b.ctx.telemetry.total('dropped', { reason: 'order_buffer_full' })).toBe(2);
    // The latest four are kept and judged in time order when the watermark passes them.
    b.ctx.wm.next(T + HOUR);
    expect(snap<{ items: unknown[] }>(b.ctx, 'order_buffer').items).toEqual([]);
    const wrong = json(firstSeen) as unknown as { clusters: { value: { set: { items: unknown; gens: unknown; genIds: unknown } } }[] };
    const set = wrong.clusters[0]?.value.set;
    if (set) Object.assign(set, { items: null, gens: [[0]], genIds: [0] });
    expect(() => b.ctx.checkpoints.get('first_seen')?.restore(wrong)).toThrow(/filter generations/);
    expect(() => b.ctx.checkpoints.get('order_buffer')?.restore({ watermark: null, items: [{ event: { kind: 'process_exec', time: T } }] })).toThrow(
      CheckpointFormatError,
    );
    expect(b.ctx.states.get('activity')?.size).toBe(4);
  });

  it('cloud_storage_foreign_transfer: commands per workload are capped at maxCommands after a restore', () => {
    const a = connect(cloudStorageForeignTransfer, {});
    for (let i = 0; i < 5; i++) {
      a.input.next(
        processExec({
          time: T + i * MIN,
          sourceId: `cp${i}`,
          process: { pid: 7 + i, executable: '/usr/local/bin/aws', args: ['aws', 's3', 'cp', '/tmp/x', `s3://drop-${i}/`], execId: `e${i}` },
          workload: pod('data', 'etl-0'),
        }),
      );
    }
    const saved = json(a.ctx.checkpoints.get('commands')?.snapshot()) as { commands: { value: { upload: { bucket: string } }[] }[] };
    expect(saved.commands[0]?.value).toHaveLength(5);
    const b = connect(cloudStorageForeignTransfer, { maxCommands: 2 });
    b.ctx.checkpoints.get('commands')?.restore(saved);
    const restored = b.ctx.checkpoints.get('commands')?.snapshot() as typeof saved;
    expect(restored.commands[0]?.value.map((c) => c.upload.bucket)).toEqual(['drop-3', 'drop-4']);
    expect(() => b.ctx.checkpoints.get('commands')?.restore({ counter: 0, commands: [{ key: 'k', touched: T, value: [{ kind: 'command' }] }] })).toThrow(
      CheckpointFormatError,
    );
    expect(snap<typeof saved>(b.ctx, 'commands').commands[0]?.value).toHaveLength(2);
  });

  it('exfiltration_chain: members per stage are capped at maxMembersPerStage after a restore, the newest kept', () => {
    const a = connect(exfiltrationChain, {});
    const alert = (i: number): Alert =>
      ({
        id: `a${i}`,
        detection: { id: 'pod_exec', title: 'pod exec', attack: T1537 },
        severity: 'medium',
        severityId: 3,
        time: T + i * MIN,
        firstSeen: T + i * MIN,
        lastSeen: T + i * MIN,
        count: 1,
        status: 'new',
        emittedAt: T,
        workload: pod('shop', 'api-0'),
        evidence: [{ source: 'test', id: `ev${i}` }],
        dedupKey: `d${i}`,
        explanation: { summary: `exec ${i}` },
      }) as Alert;
    for (let i = 0; i < 4; i++) a.ctx.alerts.next(alert(i));
    type Chains = { chains: { value: { members: { foothold: { id: string }[] } } }[]; seen: unknown[] };
    const saved = json(a.ctx.checkpoints.get('chains')?.snapshot()) as Chains;
    expect(saved.chains[0]?.value.members.foothold).toHaveLength(4);
    expect(saved.seen).toHaveLength(4);
    const b = connect(exfiltrationChain, { maxMembersPerStage: 2 });
    b.ctx.checkpoints.get('chains')?.restore(saved);
    expect(snap<Chains>(b.ctx, 'chains').chains[0]?.value.members.foothold.map((m) => m.id)).toEqual(['a2', 'a3']);
    const bad = json(saved) as unknown as { chains: { value: { members: { foothold: { severity: string }[] } } }[] };
    const m = bad.chains[0]?.value.members.foothold[0];
    if (m) m.severity = 'apocalyptic';
    expect(() => b.ctx.checkpoints.get('chains')?.restore(bad)).toThrow(/not a severity/);
    expect(snap<Chains>(b.ctx, 'chains').chains[0]?.value.members.foothold).toHaveLength(2);
  });
});
