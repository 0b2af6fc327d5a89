import {
  type Detection,
  type DetectionContext,
  eventRef,
  type Finding,
  isPrivateOrLocal,
  KeyedState,
  type NetworkFlowEvent,
  type OutflowEvent,
  safeMap,
  T1537,
  workloadKey,
} from '@outflow/core';
import type { Observable } from 'rxjs';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** An egress flow to an address outside private ranges, from a known workload. */
function externalEgress(event: OutflowEvent): (NetworkFlowEvent & { key: string }) | undefined {
  if (event.kind !== 'network_flow' || event.direction !== 'egress') return undefined;
  if (isPrivateOrLocal(event.dst.address)) return undefined;
  const key = workloadKey(event.workload);
  return key ? Object.assign(event, { key }) : undefined;
}

interface Welford {
  n: number;
  mean: number;
  m2: number;
  since: number;
}

/**
 * Bytes per external flow, learned per workload (Welford mean and variance
 * of log bytes); a flow more than `z` standard deviations above the mean,
 * and above `minBytes`, is a finding once the workload has `minSamples`
 * flows. Anomalies are not learned. The baselines are checkpointed: after a
 * restart or a partition move the workload is judged against what it learned,
 * instead of starting to learn again (and missing what it should catch).
 */
export function egressBytesBaseline(options: { z?: number; minSamples?: number; minBytes?: number; versionTag?: string } = {}): Detection {
  const z = options.z ?? 4;
  const minSamples = options.minSamples ?? 30;
  const minBytes = options.minBytes ?? 10_000_000;
  const id = 'egress_bytes_baseline';
  const title = 'Flow far larger than the workload’s usual external flows';
  return {
    id,
    title,
    kinds: ['network_flow'],
    connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding> {
      const baselines = new KeyedState<string, Welford>({ maxKeys: 50_000, ttlMs: 7 * DAY });
      ctx.registerState('baselines', baselines);
      // The version names what the state means: the feature, the statistic and the parameters that shape it.
      ctx.registerCheckpoint('baselines', {
        version: `log-bytes-per-external-flow/welford/v1/z=${z}/min=${minSamples}${options.versionTag ? `/${options.versionTag}` : ''}`,
        snapshot: () => baselines.snapshot(),
        restore: (state) => baselines.restore(state as ReturnType<typeof baselines.snapshot>),
      });
      return events$.pipe(
        safeMap<OutflowEvent, Finding>(
          (event) => {
            const flow = externalEgress(event);
            if (!flow || !(flow.bytes && flow.bytes > 0)) return undefined;
            const x = Math.log(flow.bytes);
            const b = baselines.getOrCreate(flow.key, flow.time, () => ({ n: 0, mean: 0, m2: 0, since: flow.time }));
            const sd = b.n > 1 ? Math.sqrt(b.m2 / (b.n - 1)) : 0;
            const score = sd > 0 ? (x - b.mean) / sd : 0;
            if (b.n >= minSamples && flow.bytes >= minBytes && score >= z) {
              return {
                detection: { id, title, attack: T1537 },
                severity: 'high',
                time: flow.time,
                evidence: [eventRef(flow)],
                ...(flow.workload ? { workload: flow.workload } : {}),
                dedupKey: `${flow.key}|${flow.dst.address}`,
                explanation: {
                  summary: `${flow.bytes} bytes to ${flow.dst.address} in one flow, ${score.toFixed(1)} standard deviations above this workload's usual external flows`,
                  observed: `${flow.bytes} bytes`,
                  expected: `about ${Math.round(Math.exp(b.mean))} bytes (log sd ${sd.toFixed(2)})`,
                  score,
                  threshold: z,
                  samples: b.n,
                  baselineAgeMs: flow.time - b.since,
                },
                attributes: { 'destination.address': flow.dst.address },
              };
            }
            b.n++;
            const d = x - b.mean;
            b.mean += d / b.n;
            b.m2 += d * (x - b.mean);
            return undefined;
          },
          (err, event) => ctx.reportError(err, event),
        ),
      );
    },
  };
}

interface Peers {
  firstSeen: number;
  peers: string[];
}

/**
 * External destinations per workload: during the first `learnMs` of a
 * workload (event time) its destinations are learned; afterwards a
 * destination it never used is a finding. Checkpointed, so that a moved
 * partition neither re-learns (missing the new destination) nor treats every
 * destination as new.
 */
export function newExternalPeer(options: { learnMs?: number; maxPeers?: number; versionTag?: string } = {}): Detection {
  const learnMs = options.learnMs ?? 2 * HOUR;
  const maxPeers = options.maxPeers ?? 256;
  const id = 'new_external_peer';
  const title = 'Workload talks to an external address it never used';
  return {
    id,
    title,
    kinds: ['network_flow'],
    connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding> {
      const peers = new KeyedState<string, Peers>({ maxKeys: 50_000, ttlMs: 7 * DAY });
      ctx.registerState('peers', peers);
      ctx.registerCheckpoint('peers', {
        version: `external-destinations/v1/learn=${learnMs}/max=${maxPeers}${options.versionTag ? `/${options.versionTag}` : ''}`,
        snapshot: () => peers.snapshot(),
        restore: (state) => peers.restore(state as ReturnType<typeof peers.snapshot>),
      });
      return events$.pipe(
        safeMap<OutflowEvent, Finding>(
          (event) => {
            const flow = externalEgress(event);
            if (!flow) return undefined;
            const p = peers.getOrCreate(flow.key, flow.time, () => ({ firstSeen: flow.time, peers: [] }));
            const dst = flow.dst.address;
            if (p.peers.includes(dst)) return undefined;
            if (p.peers.length < maxPeers) p.peers.push(dst);
            if (flow.time - p.firstSeen < learnMs) return undefined;
            return {
              detection: { id, title, attack: T1537 },
              severity: 'medium',
              time: flow.time,
              evidence: [eventRef(flow)],
              ...(flow.workload ? { workload: flow.workload } : {}),
              dedupKey: `${flow.key}|${dst}`,
              explanation: {
                summary: `first flow to ${dst} after ${((flow.time - p.firstSeen) / HOUR).toFixed(1)} h of known destinations`,
                observed: dst,
                expected: `${p.peers.length - 1} known destinations`,
              },
              attributes: { 'destination.address': dst },
            };
          },
          (err, event) => ctx.reportError(err, event),
        ),
      );
    },
  };
}

interface Window {
  start: number;
  bytes: number;
  flows: number;
  reported: boolean;
}

/**
 * External egress bytes per workload in tumbling windows of event time
 * (default one hour): the flow that takes a window past `thresholdBytes`
 * (default 1 GB) is a finding, once per window. The running sums are
 * checkpointed: a detector that dies in the middle of an exfiltration hands
 * the partial sum to the partition's next owner, which raises the alert at the
 * same flow an uninterrupted run would (same alert id).
 */
export function egressVolumeWindow(options: { windowMs?: number; thresholdBytes?: number; versionTag?: string } = {}): Detection {
  const windowMs = options.windowMs ?? HOUR;
  const threshold = options.thresholdBytes ?? 1_000_000_000;
  const id = 'egress_volume_window';
  const title = 'Workload sent more than its hourly egress budget to external addresses';
  return {
    id,
    title,
    kinds: ['network_flow'],
    connect(events$: Observable<OutflowEvent>, ctx: DetectionContext): Observable<Finding> {
      const windows = new KeyedState<string, Window>({ maxKeys: 50_000, ttlMs: 2 * windowMs });
      ctx.registerState('windows', windows);
      ctx.registerCheckpoint('windows', {
        version: `external-egress-bytes/tumbling/v1/window=${windowMs}/threshold=${threshold}${options.versionTag ? `/${options.versionTag}` : ''}`,
        snapshot: () => windows.snapshot(),
        restore: (state) => windows.restore(state as ReturnType<typeof windows.snapshot>),
      });
      return events$.pipe(
        safeMap<OutflowEvent, Finding>(
          (event) => {
            const flow = externalEgress(event);
            if (!flow || !(flow.bytes && flow.bytes > 0)) return undefined;
            const start = Math.floor(flow.time / windowMs) * windowMs;
            let w = windows.get(flow.key, flow.time);
            if (!w || w.start !== start) {
              w = { start, bytes: 0, flows: 0, reported: false };
              windows.set(flow.key, w, flow.time);
            }
            w.bytes += flow.bytes;
            w.flows++;
            if (w.reported || w.bytes < threshold) return undefined;
            w.reported = true;
            return {
              detection: { id, title, attack: T1537 },
              severity: 'high',
              time: flow.time,
              evidence: [eventRef(flow)],
              ...(flow.workload ? { workload: flow.workload } : {}),
              dedupKey: `${flow.key}|${new Date(start).toISOString()}`,
              explanation: {
                summary: `${(w.bytes / 1e9).toFixed(1)} GB sent to external addresses in ${w.flows} flows since ${new Date(start).toISOString().slice(11, 16)}`,
                observed: `${w.bytes} bytes in ${w.flows} flows`,
                expected: `under ${threshold} bytes per ${windowMs / 60_000} min`,
              },
              attributes: { 'destination.address': flow.dst.address },
            };
          },
          (err, event) => ctx.reportError(err, event),
        ),
      );
    },
  };
}
