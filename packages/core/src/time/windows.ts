import { Observable, type OperatorFunction } from 'rxjs';

export interface WindowOptions<E, K, A> {
  /** Window length in ms of event time. */
  sizeMs: number;
  /** Distance between window starts; equal to `sizeMs` (the default) for tumbling windows, smaller for sliding ones. */
  slideMs?: number;
  /** Windows are aligned to multiples of the slide plus this offset (default 0, i.e. epoch-aligned). */
  offsetMs?: number;
  key: (event: E) => K;
  /** Event time of an event; default `event.time`. */
  time?: (event: E) => number;
  /** New accumulator for a (key, window). */
  create: (key: K, start: number) => A;
  /** Fold an event into the accumulator; return a new accumulator or mutate and return nothing. */
  add: (acc: A, event: E) => A | undefined;
  /** Event-time watermark. A window fires once the watermark reaches its end plus the allowed lateness. */
  watermark$: Observable<number>;
  /**
   * How long after its end a window still accepts events (event time). Events
   * for windows that already fired are late: counted and sent to `onLate`.
   * Default 0.
   */
  allowedLatenessMs?: number;
  /** Most (key, window) pairs open at once; events that would open more are dropped with reason `window_cap`. Default 100 000. */
  maxOpenWindows?: number;
  onLate?: (event: E) => void;
  onDrop?: (event: E, reason: string) => void;
  /**
   * Called once per subscription with a handle on the operator's open windows,
   * for checkpoints (`ctx.registerCheckpoint('windows', { version, ...handle })`).
   * Keys and accumulators must be plain data for the snapshot to be.
   */
  onState?: (handle: WindowStateHandle<K, A>) => void;
  /** An exception from `key`, `create` or `add` on one event; the event is skipped, the stream goes on. */
  onError?: (error: unknown, event: E) => void;
}

/** Open windows as plain data: `[end, [key, value, count][]][]`, plus the watermark they were taken at. */
export interface WindowSnapshot<K, A> {
  watermark: number | null;
  windows: [number, [K, A, number][]][];
}

export interface WindowStateHandle<K, A> {
  snapshot(): WindowSnapshot<K, A>;
  restore(snapshot: unknown): void;
}

export interface WindowResult<K, A> {
  key: K;
  start: number;
  end: number;
  value: A;
  /** Events folded into the window. */
  count: number;
}

interface Cell<A> {
  value: A;
  count: number;
}

/**
 * Keyed event-time windows, tumbling or sliding. Emits one result per (key,
 * window) when the watermark passes the window's end plus the allowed
 * lateness, windows in end order and keys in first-seen order within a window,
 * so identical input gives identical output.
 */
export function eventTimeWindows<E, K, A>(options: WindowOptions<E, K, A>): OperatorFunction<E, WindowResult<K, A>> {
  const size = options.sizeMs;
  const slide = options.slideMs ?? size;
  const offset = options.offsetMs ?? 0;
  const lateness = options.allowedLatenessMs ?? 0;
  const maxOpen = options.maxOpenWindows ?? 100_000;
  if (!(size > 0) || !(slide > 0) || slide > size) throw new RangeError('window sizeMs and slideMs must be positive, slideMs <= sizeMs');
  const timeOf = options.time ?? ((e: E) => (e as { time: number }).time);

  return (source) =>
    new Observable<WindowResult<K, A>>((subscriber) => {
      const byEnd = new Map<number, Map<K, Cell<A>>>();
      const ends: number[] = [];
      // Events arrive mostly in time order: remember the last window looked up (saves a Map lookup by a double key per event).
      let lastEnd = Number.NaN;
      let lastCells: Map<K, Cell<A>> | undefined;
      let open = 0;
      let watermark = Number.NEGATIVE_INFINITY;

      const insertEnd = (end: number) => {
        let lo = 0;
        let hi = ends.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if ((ends[mid] as number) < end) lo = mid + 1;
          else hi = mid;
        }
        ends.splice(lo, 0, end);
      };

      const fire = (upTo: number) => {
        while (ends.length > 0 && (ends[0] as number) + lateness <= upTo) {
          const end = ends.shift() as number;
          const cells = byEnd.get(end) as Map<K, Cell<A>>;
          byEnd.delete(end);
          if (end === lastEnd) lastCells = undefined;
          open -= cells.size;
          for (const [key, cell] of cells) {
            subscriber.next({ key, start: end - size, end, value: cell.value, count: cell.count });
          }
        }
      };

      const onEvent = (event: E) => {
        let key: K;
        let t: number;
        try {
          key = options.key(event);
          t = timeOf(event);
        } catch (err) {
          options.onError?.(err, event);
          return;
        }
        // Last window start at or before t, aligned to the slide.
        const lastStart = Math.floor((t - offset) / slide) * slide + offset;
        let accepted = false;
        let capped = false;
        for (let start = lastStart; start > t - size; start -= slide) {
          const end = start + size;
          if (end + lateness <= watermark) continue; // this window already fired
          let cells: Map<K, Cell<A>> | undefined;
          if (end === lastEnd && lastCells !== undefined) cells = lastCells;
          else {
            cells = byEnd.get(end);
            if (cells !== undefined) {
              lastEnd = end;
              lastCells = cells;
            }
          }
          let cell = cells?.get(key);
          try {
            if (!cell) {
              if (open >= maxOpen) {
                capped = true;
                continue;
              }
              if (!cells) {
                cells = new Map();
                byEnd.set(end, cells);
                insertEnd(end);
                lastEnd = end;
                lastCells = cells;
              }
              cell = { value: options.create(key, start), count: 0 };
              cells.set(key, cell);
              open++;
            }
            const next = options.add(cell.value, event);
            if (next !== undefined) cell.value = next;
            cell.count++;
            accepted = true;
          } catch (err) {
            options.onError?.(err, event);
            return;
          }
        }
        if (!accepted) {
          if (capped) options.onDrop?.(event, 'window_cap');
          else options.onLate?.(event);
        }
      };

      options.onState?.({
        snapshot: () => ({
          watermark: Number.isFinite(watermark) ? watermark : null,
          windows: ends.map((end) => [end, [...(byEnd.get(end) as Map<K, Cell<A>>)].map(([k, c]) => [k, c.value, c.count] as [K, A, number])]),
        }),
        restore: (raw) => {
          const snap = raw as WindowSnapshot<K, A>;
          if (!snap || !Array.isArray(snap.windows)) throw new Error('not a window snapshot');
          byEnd.clear();
          ends.length = 0;
          open = 0;
          for (const [end, cells] of snap.windows) {
            const map = new Map<K, Cell<A>>();
            for (const [k, value, count] of cells) map.set(k, { value, count });
            byEnd.set(end, map);
            insertEnd(end);
            open += map.size;
          }
          if (typeof snap.watermark === 'number' && snap.watermark > watermark) watermark = snap.watermark;
        },
      });
      const wmSub = options.watermark$.subscribe({
        next: (wm) => {
          if (wm <= watermark) return;
          watermark = wm;
          fire(wm);
        },
        error: (err) => subscriber.error(err),
      });
      const sub = source.subscribe({
        next: onEvent,
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        wmSub.unsubscribe();
      };
    });
}

/** Tumbling (non-overlapping) event-time windows. */
export function tumblingWindows<E, K, A>(options: Omit<WindowOptions<E, K, A>, 'slideMs'>): OperatorFunction<E, WindowResult<K, A>> {
  return eventTimeWindows(options);
}

/** Sliding (overlapping) event-time windows of `sizeMs`, one starting every `slideMs`. */
export function slidingWindows<E, K, A>(options: WindowOptions<E, K, A> & { slideMs: number }): OperatorFunction<E, WindowResult<K, A>> {
  return eventTimeWindows(options);
}
