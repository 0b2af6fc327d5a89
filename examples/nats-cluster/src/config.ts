import {
  type ComponentContext,
  type DeadLetterInput,
  type Logger,
  type OutflowEvent,
  type PipelineOptions,
  type Processor,
  silentLogger,
  systemClock,
  Telemetry,
  type WatermarkOptions,
} from '@outflow/core';
import { type T1537Config, t1537 } from '@outflow/detections';
import { detectionKey, type KeyFunction } from '@outflow/transport-nats';
import { asyncScheduler } from 'rxjs';
import { egressBytesBaseline, egressVolumeWindow, newExternalPeer } from './stateful.js';

/** Partitions of the events stream in the demo. */
export const PARTITIONS = 12;

/** Replayed input is merged in event time: little disorder to wait for (as `outflow replay`). */
export const WATERMARK: WatermarkOptions = { maxOutOfOrdernessMs: 60_000, idleTimeoutMs: 3_600_000 };

/**
 * Analytics of the t1537 preset the demo turns off (unless `--full-preset`), so that what it compares is what
 * partitioning with checkpoints guarantees. Every analytic of the preset checkpoints its state (a moved partition
 * restores it), but `new_external_destination` also keeps cluster-wide state (destinations first seen anywhere in
 * the cluster, their popularity, how long the cluster has been observed), which a partition keyed by workload only
 * partly sees: partitioned, it differs from the single process even without any interruption.
 */
export const OFF_IN_DEMO = ['new_external_destination'] as const;

/**
 * The demo's detection key: `detectionKey`, with the cluster name filled into workload identities that lack
 * it. The flows Tetragon reports carry a workload identity without the cluster; the collector's workload
 * identity enricher completes it (from the same pod in its index, else from the configured cluster), and this
 * is the fallback for events that do not pass through it: without the cluster they would have another key than
 * the pod's other events and land in another partition, away from the analytics that correlate them. A
 * single-cluster collector knows its cluster name.
 */
export function demoKey(cluster: string | undefined): KeyFunction {
  return (event) =>
    cluster && event.workload && !event.workload.cluster
      ? detectionKey({ ...event, workload: { ...event.workload, cluster } } as OutflowEvent)
      : detectionKey(event);
}

/** The preset configuration of the demo: the scenario's organisation, and the stateful analytics off unless `fullPreset`. */
export function demoPreset(base: Record<string, unknown>, fullPreset = false): Record<string, unknown> {
  if (fullPreset) return base;
  const analytics = { ...((base.analytics as Record<string, unknown>) ?? {}) };
  for (const id of OFF_IN_DEMO) analytics[id] = { ...((analytics[id] as object) ?? {}), enabled: false };
  return { ...base, analytics };
}

/**
 * What every pipeline of the demo runs (the single process and each partition): the preset plus three
 * checkpointed analytics. `versionTag` changes the version their state is saved under: state saved
 * under another version is not restored (a clean relearn), which the demo's `--relearn` uses as a control.
 */
export function demoDetections(preset: Record<string, unknown>, versionTag?: string): NonNullable<PipelineOptions['detections']> {
  const v = versionTag ? { versionTag } : {};
  return [t1537(preset as never), egressVolumeWindow(v), egressBytesBaseline(v), newExternalPeer(v)];
}

/** A component context for code that runs components outside a pipeline (the collector's enrichers). */
export function standaloneContext(name: string, logger: Logger = silentLogger): ComponentContext {
  const metrics = new Telemetry({ pipeline: name }).forComponent(name);
  return {
    name,
    type: name,
    kind: 'processor',
    metrics,
    logger,
    clock: systemClock,
    scheduler: asyncScheduler,
    signal: new AbortController().signal,
    deadLetter: (entry: DeadLetterInput) => {
      metrics.add('errors', 1, entry.reason);
      logger.warn('dead letter', { reason: entry.reason, message: entry.message });
    },
  };
}

/**
 * The collector's enrichment: the preset's processors (workload identity,
 * destination class, image trust, bucket owners), run on every event before
 * it is published, so that flows carry the workload that sends them and land
 * in that workload's partition.
 */
export async function collectorEnrichers(
  preset: Record<string, unknown>,
): Promise<{ enrich(event: OutflowEvent): OutflowEvent | undefined; close(): Promise<void> }> {
  const config = t1537.validate(preset) as T1537Config;
  const bundle = t1537.create(standaloneContext('collector.enrich'), config);
  const processors: readonly Processor[] = bundle.processors ?? [];
  for (const p of processors) await p.start?.();
  return {
    enrich(event) {
      let e: OutflowEvent | undefined = event;
      for (const p of processors) {
        if (!e) break;
        e = p.process(e);
      }
      return e;
    },
    async close() {
      for (const p of processors) await p.shutdown?.();
    },
  };
}
