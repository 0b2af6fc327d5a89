import { Observable, type OperatorFunction } from 'rxjs';
import type { DetectionRef, Finding, Severity } from '../alert.js';
import type { Baseline, Score, Scorer } from '../contracts/baseline.js';
import type { EventRef } from '../events.js';
import { KeyedState } from '../state/keyed-state.js';
import type { ComponentMetrics } from '../telemetry.js';

/** When a key starts raising anomalies: it needs this many learned observations and this much event time since its first one. */
export interface LearningPhase {
  /** Observations learned before the key may raise anything. Default 30. */
  minSamples?: number;
  /** Event time (ms) between the key's first learned observation and its first possible anomaly. Default 0. */
  minAgeMs?: number;
}

/**
 * Freeze-and-compare against poisoning: each key keeps a frozen copy of its
 * baseline, refreshed every `refreshMs` of event time but only after a period
 * in which nothing scored as anomalous. Observations are scored against both
 * the live baseline and the frozen one, and the higher score decides. A slow
 * ramp that the live baseline follows still drifts away from the frozen copy
 * and fires once it has moved further than the threshold allows within one
 * period; once it fired, the frozen copy stops refreshing until a whole quiet
 * period has passed.
 */
export interface ReferenceGuard {
  refreshMs: number;
}

export interface DetectOptions<E, K, F, S> {
  /** Grouping key, e.g. workload × destination class. `undefined` skips the event (counted as `no_key`). */
  key: (event: E) => K | undefined;
  /** The observation to score and learn. `undefined` skips the event (counted as `no_feature`). */
  feature: (event: E) => F | undefined;
  /** Event time, epoch ms. Default `event.time`. */
  time?: (event: E) => number;
  baseline: Baseline<S, F>;
  scorer: Scorer<S, F>;
  /** Score probability at or above which an observation is anomalous. Default 0.999. */
  threshold?: number;
  learning?: LearningPhase;
  /** Learn observations judged anomalous too. Default false: a key does not learn what it flagged. */
  learnFromAnomalies?: boolean;
  /** Optional freeze-and-compare guard against slow poisoning. */
  reference?: ReferenceGuard;
  /** Most keys held at once; the least recently seen key is evicted beyond it. Default 100 000. */
  maxKeys?: number;
  /** A key unseen for this long (event time) is forgotten and starts learning afresh. Default 7 days. */
  ttlMs?: number;
  /**
   * Events older than the watermark minus this are late: counted, passed to
   * `onLate`, neither scored nor learned. Events out of order within it are
   * scored and learned as they come. Default 0.
   */
  allowedLatenessMs?: number;
  /**
   * Event-time watermark (e.g. `DetectionContext.watermark$`). Without one,
   * the operator uses the latest event time it has seen.
   */
  watermark$?: Observable<number>;
  /** An exception from `key`, `feature`, the baseline or the scorer on one event: the event is skipped, the stream goes on. */
  onError?: (error: unknown, event: E) => void;
  onLate?: (event: E) => void;
  onEvict?: (key: K, reason: 'ttl' | 'cap') => void;
  /** Counts received / emitted / late / errors (with reasons) when given. */
  metrics?: ComponentMetrics;
}

/** An observation that scored at or above the threshold, with what an analyst needs to judge it. */
export interface Anomaly<E, K, F> {
  key: K;
  feature: F;
  /** Event time of the observation. */
  time: number;
  /** The deciding score (the higher of live and reference when the guard is on). */
  score: Score;
  /** Score against the live baseline. */
  live: Score;
  /** Score against the frozen reference baseline, when the guard is on and a reference exists. */
  reference?: Score;
  threshold: number;
  /** Event time since the key's first learned observation. */
  baselineAgeMs: number;
  /** Observations the key had learned. */
  samples: number;
  /** The event (or window result) observed. */
  event: E;
}

/** Per-key state of the operator: plain data. */
export interface DetectKeyState<S> {
  state: S;
  /** Frozen reference copy (guard on). */
  ref?: S;
  /** Event time the reference period started. */
  refAt?: number;
  /** Nothing scored anomalous since `refAt`. */
  quiet?: boolean;
}

/** Everything the operator holds, as plain data (JSON round trip safe when keys and baseline states are). */
export interface DetectSnapshot<K, S> {
  version: 1;
  maxTime: number | null;
  entries: { key: K; value: DetectKeyState<S>; touched: number }[];
}

export interface DetectStats {
  received: number;
  scored: number;
  learning: number;
  anomalies: number;
  learned: number;
  late: number;
  errors: number;
  skipped: { no_key: number; no_feature: number };
  evicted: { ttl: number; cap: number };
  keys: number;
}

/** The operator, plus access to its keyed state. One instance holds one keyed state: subscribe it once. */
export interface DetectOperator<E, K, F, S> extends OperatorFunction<E, Anomaly<E, K, F>> {
  /** Plain-data copy of every key's state, for checkpoints. */
  snapshot(): DetectSnapshot<K, S>;
  /** Replace the keyed state with a snapshot. */
  restore(snapshot: DetectSnapshot<K, S>): void;
  stats(): DetectStats;
  /** Number of keys held. */
  readonly size: number;
}

const DAY = 86_400_000;

function clone<T>(value: T): T {
  return structuredClone(value);
}

/**
 * Per key: take a feature from each event, score it against that key's
 * baseline, compare with a threshold, then learn it — by default only when it
 * was not anomalous. Keys raise nothing during their learning phase. Keyed
 * state is bounded (key cap, TTL in event time) and plain data
 * (`snapshot()`/`restore()`). Exceptions are isolated per event.
 *
 * ```ts
 * events$.pipe(detect({ key: (e) => workloadKey(e.workload), feature: (e) => e.bytes,
 *   baseline: new EwmaBaseline({ halfLifeMs: 3_600_000 }), scorer: zScore(...), threshold: 0.9999 }))
 * ```
 */
export function detect<E, K, F, S>(options: DetectOptions<E, K, F, S>): DetectOperator<E, K, F, S> {
  const { baseline, scorer } = options;
  const threshold = options.threshold ?? 0.999;
  const minSamples = options.learning?.minSamples ?? 30;
  const minAgeMs = options.learning?.minAgeMs ?? 0;
  const learnAll = options.learnFromAnomalies ?? false;
  const refreshMs = options.reference?.refreshMs;
  const lateness = options.allowedLatenessMs ?? 0;
  const timeOf = options.time ?? ((e: E) => (e as { time: number }).time);
  const metrics = options.metrics;
  if (!(threshold >= 0 && threshold <= 1)) throw new RangeError('detect threshold must be a probability in [0, 1]');
  if (refreshMs !== undefined && !(refreshMs > 0)) throw new RangeError('detect reference.refreshMs must be positive');
  if (!(lateness >= 0)) throw new RangeError('detect allowedLatenessMs must be >= 0');

  const stats: DetectStats = {
    received: 0,
    scored: 0,
    learning: 0,
    anomalies: 0,
    learned: 0,
    late: 0,
    errors: 0,
    skipped: { no_key: 0, no_feature: 0 },
    evicted: { ttl: 0, cap: 0 },
    keys: 0,
  };
  const keyed = new KeyedState<K, DetectKeyState<S>>({
    maxKeys: options.maxKeys ?? 100_000,
    ttlMs: options.ttlMs ?? 7 * DAY,
    onEvict: (key, _value, reason) => {
      stats.evicted[reason]++;
      options.onEvict?.(key, reason);
    },
  });
  const expireEvery = keyed.ttlMs / 64;
  let maxTime = Number.NEGATIVE_INFINITY;
  let external = Number.NEGATIVE_INFINITY;
  let lastExpire = Number.NEGATIVE_INFINITY;

  const probabilityOf = scorer.probability
    ? (s: S, f: F, t: number) => (scorer.probability as (s: S, f: F, t: number) => number)(s, f, t)
    : (s: S, f: F, t: number) => scorer.score(s, f, t).probability;

  const fail = (err: unknown, event: E, reason: string) => {
    stats.errors++;
    metrics?.add('errors', 1, reason);
    options.onError?.(err, event);
  };

  /** Expire keys by event time. A +Infinity watermark (every source completed) is no reason to drop the state. */
  const maybeExpire = () => {
    const wm = Math.max(Number.isFinite(external) ? external : Number.NEGATIVE_INFINITY, maxTime);
    if (Number.isFinite(wm) && wm - lastExpire >= expireEvery) {
      lastExpire = wm;
      keyed.expire(wm);
    }
  };

  /** Process one event; returns the anomaly to emit, if any. */
  const process = (event: E): Anomaly<E, K, F> | undefined => {
    stats.received++;
    let t: number;
    let key: K | undefined;
    let feature: F | undefined;
    try {
      t = timeOf(event);
      if (!Number.isFinite(t)) throw new TypeError(`event time is not a finite number: ${String(t)}`);
      key = options.key(event);
      if (key === undefined) {
        stats.skipped.no_key++;
        return undefined;
      }
      feature = options.feature(event);
      if (feature === undefined) {
        stats.skipped.no_feature++;
        return undefined;
      }
    } catch (err) {
      fail(err, event, 'detect_extract');
      return undefined;
    }
    const watermark = Math.max(external, maxTime);
    if (t < watermark - lateness) {
      stats.late++;
      metrics?.add('late', 1);
      options.onLate?.(event);
      return undefined;
    }
    if (t > maxTime) maxTime = t;
    try {
      let entry = keyed.get(key, t);
      if (entry === undefined) {
        entry = { state: baseline.init(t) };
        keyed.set(key, entry, t);
      }
      const state = entry.state;
      const samples = baseline.samples(state);
      const since = samples > 0 ? baseline.since(state) : t;
      const age = t > since ? t - since : 0;
      let anomaly: Anomaly<E, K, F> | undefined;
      if (samples < minSamples || age < minAgeMs) {
        stats.learning++;
      } else {
        stats.scored++;
        let p = probabilityOf(state, feature, t);
        const ref = entry.ref;
        let pr = 0;
        if (ref !== undefined) {
          pr = probabilityOf(ref, feature, t);
          if (pr > p) p = pr;
        }
        if (p >= threshold) {
          const live = scorer.score(state, feature, t);
          const reference = ref !== undefined ? scorer.score(ref, feature, t) : undefined;
          const score = reference && reference.probability > live.probability ? reference : live;
          anomaly = { key, feature, time: t, score, live, threshold, baselineAgeMs: age, samples, event };
          if (reference) anomaly.reference = reference;
          entry.quiet = false;
          stats.anomalies++;
        }
      }
      if (anomaly === undefined || learnAll) {
        entry.state = baseline.update(state, feature, t);
        stats.learned++;
      }
      if (refreshMs !== undefined) {
        if (entry.refAt === undefined) {
          entry.refAt = t;
          entry.quiet = anomaly === undefined;
        } else if (t - entry.refAt >= refreshMs) {
          if (entry.quiet !== false) entry.ref = clone(entry.state);
          entry.refAt = t;
          entry.quiet = true;
        }
      }
      maybeExpire();
      return anomaly;
    } catch (err) {
      fail(err, event, 'detect_score');
      return undefined;
    }
  };

  const operator = ((source: Observable<E>) =>
    new Observable<Anomaly<E, K, F>>((subscriber) => {
      const wmSub = options.watermark$?.subscribe({
        next: (wm) => {
          if (wm > external) {
            external = wm;
            maybeExpire();
          }
        },
        error: (err) => subscriber.error(err),
      });
      const sub = source.subscribe({
        next: (event) => {
          metrics?.add('received', 1);
          const anomaly = process(event);
          if (anomaly !== undefined) {
            metrics?.add('emitted', 1);
            subscriber.next(anomaly);
          }
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        wmSub?.unsubscribe();
      };
    })) as DetectOperator<E, K, F, S>;

  Object.defineProperty(operator, 'size', { get: () => keyed.size, enumerable: true });
  operator.snapshot = () => ({
    version: 1,
    maxTime: Number.isFinite(maxTime) ? maxTime : null,
    entries: keyed.snapshot().map((e) => ({ key: e.key, value: clone(e.value), touched: e.touched })),
  });
  operator.restore = (snapshot) => {
    if (snapshot?.version !== 1 || !Array.isArray(snapshot.entries)) throw new TypeError('not a detect snapshot (version 1)');
    keyed.restore(snapshot.entries.map((e) => ({ key: e.key, value: clone(e.value), touched: e.touched })));
    maxTime = snapshot.maxTime ?? Number.NEGATIVE_INFINITY;
    lastExpire = Number.NEGATIVE_INFINITY;
  };
  operator.stats = () => ({ ...stats, skipped: { ...stats.skipped }, evicted: { ...stats.evicted }, keys: keyed.size });
  return operator;
}

export interface AnomalyFindingOptions<E> {
  detection: DetectionRef;
  severity: Severity;
  /** Evidence for the anomaly's event(s). */
  evidence: (event: E) => readonly EventRef[];
  /** Dedup key; default the anomaly key as a string. */
  dedupKey?: string;
  /** One sentence for the analyst; default built from the score. */
  summary?: string;
}

/** Turn an anomaly into a Finding whose explanation carries the observed value, the expected range, the score, the threshold, baseline age and samples. */
export function anomalyToFinding<E, K, F>(anomaly: Anomaly<E, K, F>, options: AnomalyFindingOptions<E>): Finding {
  const ex = anomaly.score.explanation;
  const reasons = [`${ex.scorer}: observed ${ex.observed}, expected ${ex.expected} (p=${anomaly.score.probability.toPrecision(6)})`];
  if (anomaly.reference && anomaly.reference !== anomaly.score)
    reasons.push(`reference baseline: observed ${anomaly.reference.explanation.observed}, expected ${anomaly.reference.explanation.expected}`);
  return {
    detection: options.detection,
    severity: options.severity,
    time: anomaly.time,
    evidence: options.evidence(anomaly.event),
    dedupKey: options.dedupKey ?? String(anomaly.key),
    explanation: {
      summary: options.summary ?? `${String(anomaly.key)}: ${ex.observed} departs from its baseline (${ex.expected})`,
      observed: ex.observed,
      expected: ex.expected,
      score: anomaly.score.probability,
      threshold: anomaly.threshold,
      baselineAgeMs: anomaly.baselineAgeMs,
      samples: anomaly.samples,
      reasons,
    },
  };
}
