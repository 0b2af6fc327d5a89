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
import { asyncScheduler } from 'rxjs';
import { egressBytesBaseline, egressVolumeWindow, newExternalPeer } from './stateful.js';

/** Partitions of the events stream in the demo. */
export const PARTITIONS = 12;

/** Replayed input is merged in event time: little disorder to wait for (as `outflow replay`). */
export const WATERMARK: WatermarkOptions = { maxOutOfOrdernessMs: 60_000, idleTimeoutMs: 3_600_000 };

/**
 * Analytics of the t1537 preset that keep state across events but do not yet
 * register it with `ctx.registerCheckpoint`: after a restart or a partition
 * move they would start empty. The demo turns them off (unless
 * `--full-preset`) so that what it compares is what checkpoints guarantee.
 */
export const UNCHECKPOINTED_T1537 = [
  'shared_snapshot_consumed',
  'snapshot_share_story',
  'exec_payload',
  'secret_harvesting',
  'untrusted_image_sensitive_access',
  'cloud_storage_foreign_transfer',
  'egress_volume_anomaly',
  'new_external_destination',
  'exfiltration_chain',
] as const;

/** The preset configuration of the demo: the scenario's organisation, and the stateful analytics off unless `fullPreset`. */
export function demoPreset(base: Record<string, unknown>, fullPreset = false): Record<string, unknown> {
  if (fullPreset) return base;
  const analytics = { ...((base.analytics as Record<string, unknown>) ?? {}) };
  for (const id of UNCHECKPOINTED_T1537) analytics[id] = { ...((analytics[id] as object) ?? {}), enabled: false };
  return { ...base, analytics };
}

/** What every pipeline of the demo runs (the single process and each partition): the preset plus three checkpointed analytics. */
export function demoDetections(preset: Record<string, unknown>): NonNullable<PipelineOptions['detections']> {
  return [t1537(preset as never), egressVolumeWindow(), egressBytesBaseline(), newExternalPeer()];
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
