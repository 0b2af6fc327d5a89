import { Observable, type OperatorFunction } from 'rxjs';

export interface EventTimeOrderedOptions {
  /** Most events held at once. When full, the earliest is released before its time (counted through `onOverflow`). Default 100 000. */
  maxBuffer?: number;
  onOverflow?: () => void;
}

/**
 * Re-order a stream by event time: hold each event until the watermark
 * reaches its time, then release held events in event-time order (ties in
 * arrival order). Events already at or behind the watermark pass at once.
 * When the source completes, everything held is released. A watermark of
 * `+Infinity` (every source completed) releases nothing by itself: events
 * still queued behind it are held and released in order at completion.
 *
 * For stateful analytics that must see steps in the order they happened
 * (share before consume before revoke) although sources deliver them out of
 * order within the allowed out-of-orderness.
 */
export function eventTimeOrdered<E extends { time: number }>(watermark$: Observable<number>, options: EventTimeOrderedOptions = {}): OperatorFunction<E, E> {
  const max = options.maxBuffer ?? 100_000;
  return (source) =>
    new Observable<E>((subscriber) => {
      let buffer: E[] = [];
      let head = 0;
      let watermark = Number.NEGATIVE_INFINITY;
      const release = (upTo: number) => {
        while (head < buffer.length && (buffer[head] as E).time <= upTo) subscriber.next(buffer[head++] as E);
        if (head > 1024 && head * 2 > buffer.length) {
          buffer = buffer.slice(head);
          head = 0;
        }
      };
      const insert = (event: E) => {
        let lo = head;
        let hi = buffer.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if ((buffer[mid] as E).time <= event.time) lo = mid + 1;
          else hi = mid;
        }
        buffer.splice(lo, 0, event);
      };
      const sourceSub = source.subscribe({
        next: (event) => {
          // A +Infinity watermark means every source has completed, but the pipeline may still be draining
          // their queued batches: hold those too and release them in order when the input completes.
          if (event.time <= watermark && watermark !== Number.POSITIVE_INFINITY) {
            subscriber.next(event);
            return;
          }
          if (buffer.length - head >= max) {
            options.onOverflow?.();
            subscriber.next(buffer[head++] as E);
          }
          insert(event);
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          release(Number.POSITIVE_INFINITY);
          subscriber.complete();
        },
      });
      const wmSub = watermark$.subscribe({
        next: (wm) => {
          if (wm <= watermark) return;
          watermark = wm;
          if (wm !== Number.POSITIVE_INFINITY) release(wm);
        },
        error: (err) => subscriber.error(err),
      });
      return () => {
        sourceSub.unsubscribe();
        wmSub.unsubscribe();
      };
    });
}
