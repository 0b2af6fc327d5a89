import { asyncScheduler, Observable, type SchedulerLike } from 'rxjs';

export interface WatermarkOptions {
  /** Events may arrive this much later (event time) than the latest seen from their source. Default 120 000 (2 min). */
  maxOutOfOrdernessMs?: number;
  /** A source with no event for this long (processing time) stops holding the watermark back. Default 60 000. */
  idleTimeoutMs?: number;
}

interface SourceState {
  maxTime: number;
  lastActive: number;
  completed: boolean;
}

/**
 * Event-time watermark over several sources, with bounded out-of-orderness and
 * idle-source detection (as in Flink): the watermark is the minimum, over the
 * sources that are neither idle nor completed, of `max event time - maxOutOfOrderness`.
 * When every source is idle it follows the most advanced one; when every
 * source has completed it is `+Infinity`. It never goes backwards.
 */
export class WatermarkTracker {
  private readonly sources = new Map<string, SourceState>();
  private value = Number.NEGATIVE_INFINITY;
  readonly maxOutOfOrdernessMs: number;
  readonly idleTimeoutMs: number;

  constructor(options: WatermarkOptions = {}) {
    this.maxOutOfOrdernessMs = options.maxOutOfOrdernessMs ?? 120_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    if (!(this.maxOutOfOrdernessMs >= 0)) throw new RangeError('maxOutOfOrdernessMs must be >= 0');
    if (!(this.idleTimeoutMs > 0)) throw new RangeError('idleTimeoutMs must be > 0');
  }

  /** Declare a source before it emits, so it holds the watermark back until it is active or idle. */
  register(source: string, now: number): void {
    if (!this.sources.has(source)) this.sources.set(source, { maxTime: Number.NEGATIVE_INFINITY, lastActive: now, completed: false });
  }

  /** Record that `source` delivered events up to `maxEventTime` at processing time `now`. */
  observe(source: string, maxEventTime: number, now: number): void {
    let s = this.sources.get(source);
    if (!s) {
      s = { maxTime: maxEventTime, lastActive: now, completed: false };
      this.sources.set(source, s);
      return;
    }
    if (maxEventTime > s.maxTime) s.maxTime = maxEventTime;
    s.lastActive = now;
  }

  /** A finite source has ended: it no longer holds the watermark back. */
  complete(source: string, now: number): void {
    this.register(source, now);
    (this.sources.get(source) as SourceState).completed = true;
  }

  /** Latest event time seen from any source. */
  maxEventTime(): number {
    let max = Number.NEGATIVE_INFINITY;
    for (const s of this.sources.values()) if (s.maxTime > max) max = s.maxTime;
    return max;
  }

  /** Recompute at processing time `now`; returns the (monotonic) watermark. */
  update(now: number): number {
    let min = Number.POSITIVE_INFINITY;
    let anyActive = false;
    let allCompleted = this.sources.size > 0;
    let maxIdle = Number.NEGATIVE_INFINITY;
    for (const s of this.sources.values()) {
      if (s.completed) continue;
      allCompleted = false;
      const candidate = s.maxTime - this.maxOutOfOrdernessMs;
      if (now - s.lastActive >= this.idleTimeoutMs) {
        if (candidate > maxIdle) maxIdle = candidate;
        continue;
      }
      anyActive = true;
      if (candidate < min) min = candidate;
    }
    let next: number;
    if (allCompleted) next = Number.POSITIVE_INFINITY;
    else if (anyActive) next = min;
    else next = maxIdle;
    if (next > this.value) this.value = next;
    return this.value;
  }

  current(): number {
    return this.value;
  }

  /** Start from a known watermark (a restored checkpoint's); it never goes back below it. */
  seed(watermark: number): void {
    if (watermark > this.value) this.value = watermark;
  }
}

export interface WatermarkedSource<E> {
  id: string;
  events: Observable<E>;
}

/**
 * Watermarks of several event streams, as an Observable of the watermark each
 * time it advances. Idleness is checked every `idleTimeoutMs / 2` on the
 * scheduler; a completed source stops holding the watermark back, and when all
 * complete the watermark ends at `+Infinity`.
 */
export function watermarks<E>(
  sources: readonly WatermarkedSource<E>[],
  options: WatermarkOptions & { time?: (event: E) => number; scheduler?: SchedulerLike } = {},
): Observable<number> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const time = options.time ?? ((e: E) => (e as { time: number }).time);
  return new Observable<number>((subscriber) => {
    const tracker = new WatermarkTracker(options);
    let last = Number.NEGATIVE_INFINITY;
    let open = sources.length;
    const emitIfAdvanced = () => {
      const wm = tracker.update(scheduler.now());
      if (wm > last) {
        last = wm;
        subscriber.next(wm);
      }
    };
    for (const source of sources) tracker.register(source.id, scheduler.now());
    const tick = scheduler.schedule(function (this: { schedule(state?: unknown, delay?: number): void }) {
      emitIfAdvanced();
      if (!subscriber.closed) this.schedule(undefined, tracker.idleTimeoutMs / 2);
    }, tracker.idleTimeoutMs / 2);
    subscriber.add(tick);
    for (const source of sources) {
      subscriber.add(
        source.events.subscribe({
          next: (event) => {
            tracker.observe(source.id, time(event), scheduler.now());
            emitIfAdvanced();
          },
          error: (err) => subscriber.error(err),
          complete: () => {
            tracker.complete(source.id, scheduler.now());
            emitIfAdvanced();
            open--;
            if (open === 0) subscriber.complete();
          },
        }),
      );
    }
    if (sources.length === 0) subscriber.complete();
  });
}
