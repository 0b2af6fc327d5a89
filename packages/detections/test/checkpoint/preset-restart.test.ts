import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Alert, eventRef, FileCheckpointStore, type OutflowEvent, type PipelineCheckpoint } from '@outflow/core';
import { type GeneratedTelemetry, generateScenario, type StepLabel, writeScenario } from '@outflow/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { T1537ConfigInput } from '../../src/index.js';
import { decodeScenario, fresh, lastDelivered, describe as lines, newIds, type PhaseResult, runPhase } from './helpers.js';

/**
 * The whole t1537 preset, interrupted mid-stream and restarted from its
 * checkpoint, against the same input run without interruption: the scenario
 * generator's six hours of a cluster (every attack and every benign
 * scenario), written as the sources deliver it and decoded by the receivers'
 * decoders. The checkpoint goes through a real file (FileCheckpointStore).
 */

const ATTACKS = ['exfil_chain', 'slow_exfil', 'exfil_netcat', 'exfil_foreign_bucket', 'kubectl_cp', 'cloud_shares'];
const BENIGN = ['web_services', 'batch_jobs', 'nightly_backup', 'ci_pulls', 'admin_ops'];

/**
 * Analytics whose state is not (yet) wired to checkpoints: disabled here until they checkpoint everything they hold,
 * then removed from this list. Every analytic of the preset checkpoints its state now.
 */
const NOT_YET_CHECKPOINTED: string[] = [];

/** Analytics with state of their own: each must alert in the uninterrupted run, or the comparison proves nothing about it. */
const STATEFUL = [
  'shared_snapshot_consumed',
  'snapshot_share_story',
  'pod_exec',
  'kubectl_cp',
  'exec_payload',
  'secret_harvesting',
  'untrusted_image_sensitive_access',
  'egress_volume_anomaly',
  'new_external_destination',
  'cloud_storage_foreign_transfer',
  'exfiltration_chain',
];

const BATCH = 100;

let dir: string;
let telemetry: GeneratedTelemetry;
/** Audit, CloudTrail, VPC flows, Falco, Tetragon: one receiver each, one source after the other. */
let separate: OutflowEvent[][];
/** Every source merged in event-time order into one receiver: the watermark advances during the run. */
let merged: OutflowEvent[];
let config: T1537ConfigInput;
let wholeSeparate: PhaseResult;
let wholeMerged: PhaseResult;

beforeAll(async () => {
  telemetry = generateScenario({ scenarios: [...BENIGN, ...ATTACKS], seed: 1 });
  dir = mkdtempSync(join(tmpdir(), 'outflow-checkpoint-'));
  separate = decodeScenario(writeScenario(join(dir, 'scenario'), telemetry));
  merged = separate.flat().sort((a, b) => a.time - b.time);
  const base = telemetry.presetConfig as T1537ConfigInput;
  config = { ...base, analytics: Object.fromEntries(NOT_YET_CHECKPOINTED.map((id) => [id, { enabled: false }])) };
  wholeSeparate = await runPhase(fresh(separate), config, { batchSize: BATCH });
  wholeMerged = await runPhase(fresh([merged]), config, { batchSize: BATCH });
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

let stores = 0;
function newStore(): FileCheckpointStore {
  return new FileCheckpointStore(join(dir, `store-${++stores}`, 'checkpoint.json'));
}

/** Run `sources` stopping at each cut in turn (per source positions), restarting from the checkpoint each time, then to the end. */
async function interrupted(sources: readonly (readonly OutflowEvent[])[], cuts: readonly (readonly number[])[]): Promise<PhaseResult[]> {
  const store = newStore();
  const phases: PhaseResult[] = [];
  for (const stopAt of cuts) phases.push(await runPhase(fresh(sources), config, { store, stopAt, batchSize: BATCH }));
  phases.push(await runPhase(fresh(sources), config, { store, batchSize: BATCH }));
  return phases;
}

/** The restarted runs, together, delivered what the uninterrupted run delivered; nothing was raised twice, nothing new appeared after a restart. */
function expectSameAlerts(whole: PhaseResult, phases: readonly PhaseResult[]): void {
  const all = phases.flatMap((p) => p.alerts);
  // The same alert ids, each raised (status new) exactly once over all the runs.
  expect(newIds(all)).toEqual(newIds(whole.alerts));
  // Per id, the last delivery has the same status, count and severity.
  expect(lines(lastDelivered(all))).toEqual(lines(lastDelivered(whole.alerts)));
  // No burst after a restart: every alert of a restarted run is one the uninterrupted run has.
  const known = new Set(whole.alerts.map((a) => a.id));
  for (const p of phases.slice(1)) expect(p.alerts.filter((a) => !known.has(a.id)).map((a) => `${a.detection.id} ${a.explanation.summary}`)).toEqual([]);
  // Nothing failed or arrived late in any run.
  for (const p of phases) expect(p.deadLetter.entries().map((e) => `${e.component}: ${e.stage} ${e.reason} ${e.message ?? ''}`)).toEqual([]);
}

/**
 * Index just after one event of `label` in `events`: its `nth` evidence record
 * (-1: the last), or without evidence the first event at or after its start.
 */
function cutAfter(events: readonly OutflowEvent[], label: StepLabel, nth = 0): number {
  const ref = label.evidence.at(nth);
  const i = ref
    ? events.findIndex((e) => {
        const r = eventRef(e);
        return r.source === ref.source && r.id === ref.id;
      })
    : events.findIndex((e) => e.time >= label.start);
  if (i < 0) throw new Error(`no event of ${label.scenario}/${label.step}`);
  return i + 1;
}

/** Index just after the last event before `time` (the first event at or after it is the first of the resumed run). */
function cutAtTime(events: readonly OutflowEvent[], time: number): number {
  const i = events.findIndex((e) => e.time >= time);
  if (i < 0) throw new Error(`no event at or after ${new Date(time).toISOString()}`);
  return i;
}

/** Index inside a step that has a duration: `fraction` of the way from its start to its end. */
function cutInside(events: readonly OutflowEvent[], label: StepLabel, fraction: number): number {
  return cutAtTime(events, label.start + fraction * (label.end - label.start));
}

function attackLabel(scenario: string, step: string): StepLabel {
  const l = telemetry.labels.find((x) => x.scenario === scenario && x.step === step);
  if (!l) throw new Error(`no step ${scenario}/${step}`);
  return l;
}

function stateOf(checkpoint: PipelineCheckpoint | undefined, owner: string, name: string): unknown {
  return checkpoint?.detections[owner]?.[name]?.state;
}

describe('the t1537 preset restarted from its checkpoint', () => {
  it('the uninterrupted runs alert on every stateful analytic (so the comparisons below cover them)', () => {
    for (const whole of [wholeSeparate, wholeMerged]) {
      const fired = new Set(whole.alerts.map((a) => a.detection.id));
      expect(STATEFUL.filter((id) => !fired.has(id))).toEqual([]);
    }
  });

  it('one stream in event-time order, cut inside the steps that build state: the same alerts as without interruption', async () => {
    const cuts = [
      // An untrusted pod created (audit) before it reads anything.
      cutAfter(merged, attackLabel('exfil_chain', 'untrusted_image')),
      // kubectl exec through the API, before the shell shows at runtime.
      cutAfter(merged, attackLabel('exfil_netcat', 'exec')),
      // The token read and one secret of the burst, before the other two.
      cutAfter(merged, attackLabel('exfil_chain', 'secret_read'), 1),
      // kubectl cp's exec through the API, before its tar at runtime.
      cutAfter(merged, attackLabel('kubectl_cp', 'kubectl_cp')),
      // An upload named in a command, before the flow that confirms it.
      cutAfter(merged, attackLabel('exfil_netcat', 'upload')),
      // The snapshot shared (held for ordering), before it is consumed; and right after the consumption.
      cutAfter(merged, attackLabel('exfil_chain', 'snapshot_share'), -1),
      cutAfter(merged, attackLabel('exfil_chain', 'snapshot_consumed')),
      // The exec before a cloud copy to a foreign bucket.
      cutAfter(merged, attackLabel('exfil_foreign_bucket', 'exec')),
      // The copy's command noted, its bytes flowing into an open window; and halfway through it.
      cutAfter(merged, attackLabel('exfil_foreign_bucket', 'foreign_bucket_upload')),
      cutInside(merged, attackLabel('exfil_foreign_bucket', 'foreign_bucket_upload'), 0.5),
      // Halfway through the archive's upload: egress windows half summed, flows held for ordering, its chain complete
      // but still settling.
      cutInside(merged, attackLabel('exfil_chain', 'upload'), 0.5),
      // After it: that chain reported, the netcat attack's complete but still settling.
      cutAtTime(merged, attackLabel('exfil_chain', 'upload').end + 10 * 60_000),
      // Halfway through the slow trickle to a never-seen destination.
      cutInside(merged, attackLabel('slow_exfil', 'trickle'), 0.5),
      // In the quiet learning hours.
      Math.floor(merged.length / 3),
    ];
    expect(new Set(cuts).size).toBe(cuts.length);
    for (const cut of cuts) {
      const phases = await interrupted([merged], [[cut]]);
      expect(phases[0]?.checkpoint?.positions.receiver).toBe(cut);
      expectSameAlerts(wholeMerged, phases);
    }
  }, 120_000);

  it('restarted twice (between the exec and the secret reads, and between the snapshot share and its consumption)', async () => {
    const cuts = [[cutAfter(merged, attackLabel('exfil_chain', 'exec'))], [cutAfter(merged, attackLabel('exfil_chain', 'snapshot_share'), -1)]];
    const phases = await interrupted([merged], cuts);
    expect(phases).toHaveLength(3);
    expectSameAlerts(wholeMerged, phases);
    // The second restart resumed from the checkpoint the first restarted run wrote.
    expect(phases[1]?.checkpoint?.positions.receiver).toBe(cuts[1]?.[0]);
  }, 30_000);

  it('the checkpoint holds what the state was: held events, pending commands, learned pods and bucket owners, audit ids', async () => {
    const cut = cutAfter(merged, attackLabel('exfil_chain', 'snapshot_share'), -1);
    const [first] = await interrupted([merged], [[cut]]);
    const ckpt = first?.checkpoint;
    // The share is held for ordering (the watermark is two minutes behind it) by both snapshot analytics.
    for (const id of ['shared_snapshot_consumed', 'snapshot_share_story']) {
      const held = stateOf(ckpt, id, 'order_buffer') as { items: OutflowEvent[] };
      expect(held.items.map((e) => e.kind === 'cloud_api_call' && e.operation)).toContain('ModifySnapshotAttribute');
    }
    const index = (stateOf(ckpt, 'processor:t1537.workload_identity', 'state') as { index: { pods: unknown[] } }).index;
    expect(index.pods.length).toBeGreaterThan(0);
    expect((stateOf(ckpt, 'processor:t1537.bucket_owners', 'state') as { owners: unknown[] }).owners.length).toBeGreaterThan(0);
    expect((stateOf(ckpt, 'kubectl_cp', 'audit_ids') as { ids: unknown[] }).ids.length).toBeGreaterThan(0);
    expect((stateOf(ckpt, 'secret_harvesting', 'identities') as { identities: unknown[] }).identities.length).toBeGreaterThan(0);
    expect((stateOf(ckpt, 'untrusted_image_sensitive_access', 'pods') as { pods: unknown[] }).pods.length).toBeGreaterThan(0);
    // Every version names its layout; enrichers without learned state have no checkpoint.
    expect(ckpt?.detections['processor:t1537.workload_identity']?.state?.version).toMatch(/^workload_identity\.live\/1\+[0-9a-f]{8}$/);
    expect(ckpt?.detections['processor:t1537.image_trust']).toBeUndefined();
    expect(ckpt?.detections['processor:t1537.destination_class']).toBeUndefined();
  }, 30_000);

  it('the checkpoint holds the network analytics’ state: open windows, upload commands, held flows, first contacts, chains', async () => {
    const cut = cutInside(merged, attackLabel('exfil_foreign_bucket', 'foreign_bucket_upload'), 0.5);
    const [first] = await interrupted([merged], [[cut]]);
    const ckpt = first?.checkpoint;
    // The copy's command, remembered for the window its bytes are flowing into (still open: not flushed at shutdown).
    const commands = (stateOf(ckpt, 'cloud_storage_foreign_transfer', 'commands') as { commands: { key: string; value: { upload: { bucket: string } }[] }[] })
      .commands;
    expect(commands.flatMap((c) => c.value.map((a) => `${c.key} ${a.upload.bucket}`))).toContain('prod-eu-1/data/etl-hourly exfil-drop-999988887777');
    type Windows = { watermark: number | null; windows: [number, [string, unknown, number][]][] };
    const storage = stateOf(ckpt, 'cloud_storage_foreign_transfer', 'windows') as Windows;
    expect(storage.windows.flatMap(([, cells]) => cells.map(([key]) => key))).toContain('prod-eu-1/data/etl-hourly');
    const egress = stateOf(ckpt, 'egress_volume_anomaly', 'windows') as Windows;
    expect(egress.windows.flatMap(([, cells]) => cells.map(([key]) => key))).toContain('prod-eu-1/data/etl-hourly');
    expect((stateOf(ckpt, 'egress_volume_anomaly', 'baselines') as { entries: unknown[] }).entries.length).toBeGreaterThan(0);
    expect((stateOf(ckpt, 'new_external_destination', 'first_seen') as { workloads: unknown[] }).workloads.length).toBeGreaterThan(0);
    expect((stateOf(ckpt, 'new_external_destination', 'order_buffer') as { items: unknown[] }).items.length).toBeGreaterThan(0);
    const chains = (stateOf(ckpt, 'exfiltration_chain', 'chains') as { chains: { key: string }[] }).chains;
    expect(chains.map((c) => c.key)).toContain('prod-eu-1/shop/api');
    for (const [id, name, layout] of [
      ['egress_volume_anomaly', 'baselines', 'egress_volume_anomaly.baselines/1'],
      ['egress_volume_anomaly', 'windows', 'egress_volume_anomaly.windows/1'],
      ['new_external_destination', 'first_seen', 'new_external_destination.first_seen/1'],
      ['cloud_storage_foreign_transfer', 'commands', 'cloud_storage_foreign_transfer.commands/1'],
      ['cloud_storage_foreign_transfer', 'windows', 'cloud_storage_foreign_transfer.windows/1'],
      ['exfiltration_chain', 'chains', 'exfiltration_chain.chains/1'],
    ] as const) {
      expect(ckpt?.detections[id]?.[name]?.version).toMatch(new RegExp(`^${layout.replace(/[./]/g, '\\$&')}\\+[0-9a-f]{8}$`));
    }
    expect(ckpt?.detections.new_external_destination?.order_buffer?.version).toBe('order_buffer/1');
  }, 30_000);

  it('the comparison catches lost network state: without it the transfer to the foreign bucket goes unreported', async () => {
    const cut = cutInside(merged, attackLabel('exfil_foreign_bucket', 'foreign_bucket_upload'), 0.5);
    const [first] = await interrupted([merged], [[cut]]);
    const stripped = structuredClone(first?.checkpoint as PipelineCheckpoint);
    delete stripped.detections.cloud_storage_foreign_transfer;
    const second = await runPhase(fresh([merged]), config, { restore: stripped, batchSize: BATCH });
    const foreign = (alerts: readonly Alert[]) =>
      alerts.filter((a) => a.detection.id === 'cloud_storage_foreign_transfer' && a.dedupKey.startsWith('prod-eu-1/data/etl-hourly|')).map((a) => a.status);
    expect(foreign(wholeMerged.alerts)).toEqual(['new', 'update']);
    expect(foreign([...(first?.alerts ?? []), ...second.alerts])).toEqual([]);
  }, 30_000);

  it('the comparison catches lost state: restarting with the positions but without the operators’ state gives other alerts', async () => {
    const cut = cutAfter(merged, attackLabel('exfil_chain', 'snapshot_share'), -1);
    const [first] = await interrupted([merged], [[cut]]);
    const stripped = { ...(first?.checkpoint as PipelineCheckpoint), detections: {} };
    const second = await runPhase(fresh([merged]), config, { restore: stripped, batchSize: BATCH });
    const all = [...(first?.alerts ?? []), ...second.alerts];
    expect(lines(lastDelivered(all))).not.toEqual(lines(lastDelivered(wholeMerged.alerts)));
    // The story of the shared snapshot needs the share seen before the restart: it is missing.
    expect(all.some((a) => a.detection.id === 'snapshot_share_story')).toBe(false);
    expect(wholeMerged.alerts.some((a) => a.detection.id === 'snapshot_share_story')).toBe(true);
  }, 30_000);

  it('five receivers, one source after the other (replayed files): cut inside the audit log and inside CloudTrail', async () => {
    const audit = separate[0] as OutflowEvent[];
    const trail = separate[1] as OutflowEvent[];
    const cuts = [
      // Halfway through the audit log, nothing of the other sources yet.
      [cutAfter(audit, attackLabel('exfil_chain', 'secret_read'), 1), 0, 0, 0, 0],
      // The audit log done, CloudTrail between the snapshot share and its consumption.
      [audit.length, cutAfter(trail, attackLabel('exfil_chain', 'snapshot_share'), -1), 0, 0, 0],
    ];
    for (const cut of cuts) {
      const phases = await interrupted(separate, [cut]);
      expect(phases[0]?.checkpoint?.positions).toMatchObject({ receiver: cut[0], 'receiver/2': cut[1] });
      expectSameAlerts(wholeSeparate, phases);
    }
  }, 30_000);
});
