import { Observable, type OperatorFunction } from 'rxjs';
import { CheckpointFormatError, decodeTime, encodeTime, expectArray, expectObject } from '../enrich/checkpoint.js';

export interface EventTimeOrderedOptions<E = unknown> {
  /** Most events held at once. When full, the earliest is released before its time (counted through `onOverflow`). Default 100 000. */
  maxBuffer?: number;
  onOverflow?: () => void;
  /**
   * Hold events in this buffer instead of a new one: register it with
   * `ctx.registerCheckpoint` (see `OrderBuffer.checkpoint`) so that the
   * events held at a checkpoint survive a restart. `maxBuffer` and
   * `onOverflow` are then the buffer's own.
   */
  buffer?: OrderBuffer<E & { time: number }>;
}

/** What an OrderBuffer writes to a checkpoint: the events it holds, oldest first, and the watermark it had reached. */
export interface OrderBufferSnapshot<T = unknown> {
  /** The last finite watermark seen (null: none yet). */
  watermark: number | null;
  items: T[];
}

/** Version of the order buffers' checkpointed state. It depends on no parameter: held events are never dropped for a config change. */
export const ORDER_BUFFER_VERSION = 'order_buffer/1';

/**
 * Items (events, or anything with an event `time`) held until the watermark
 * passes them, then released in time order (ties in arrival order): the state
 * behind `eventTimeOrdered`, usable on its own by analytics that defer work
 * to a later event time.
 *
 * Held items are state: the receiver has already been told they were
 * processed, so a checkpoint must carry them (`snapshot`/`restore`, or
 * `checkpoint()` for a ready-made handle). When the input completes right
 * after a snapshot (nothing arrived and the watermark did not move since),
 * the held items are not released: the pipeline is shutting down with a
 * checkpoint that holds them, and the restarted pipeline releases them in
 * their time. Released at completion anyway, they would be judged early and
 * judged again after the restart.
 */
export class OrderBuffer<E extends { time: number }> {
  private buffer: E[] = [];
  private head = 0;
  private watermark = Number.NEGATIVE_INFINITY;
  private lastFinite = Number.NEGATIVE_INFINITY;
  /** Nothing changed since the last snapshot. */
  private covered = false;
  readonly maxBuffer: number;
  private readonly onOverflow: (() => void) | undefined;

  constructor(options: { maxBuffer?: number; onOverflow?: () => void } = {}) {
    this.maxBuffer = options.maxBuffer ?? 100_000;
    this.onOverflow = options.onOverflow;
    if (!(this.maxBuffer >= 1)) throw new RangeError('OrderBuffer maxBuffer must be at least 1');
  }

  /** Items held. */
  get size(): number {
    return this.buffer.length - this.head;
  }

  /** The watermark reached so far. */
  get currentWatermark(): number {
    return this.watermark;
  }

  /** Add an item: released at once when the watermark already passed it, else held (when full, the earliest held goes early). */
  push(item: E, emit: (item: E) => void): void {
    this.covered = false;
    // A +Infinity watermark means every source has completed, but the pipeline may still be draining
    // their queued batches: hold those too and release them in order when the input completes.
    if (item.time <= this.watermark && this.watermark !== Number.POSITIVE_INFINITY) {
      emit(item);
      return;
    }
    if (this.size >= this.maxBuffer) {
      this.onOverflow?.();
      emit(this.buffer[this.head++] as E);
    }
    this.insert(item);
  }

  /** The watermark moved: release what it passed (a +Infinity watermark releases nothing by itself). */
  advance(watermark: number, emit: (item: E) => void): void {
    if (watermark <= this.watermark) return;
    this.covered = false;
    this.watermark = watermark;
    if (watermark === Number.POSITIVE_INFINITY) return;
    this.lastFinite = watermark;
    this.release(watermark, emit);
  }

  /**
   * The input completed: release everything held, in time order — unless a
   * snapshot covers exactly what is held (see the class comment). Returns how
   * many items were released.
   */
  complete(emit: (item: E) => void): number {
    if (this.covered) return 0;
    const n = this.size;
    this.release(Number.POSITIVE_INFINITY, emit);
    return n;
  }

  private release(upTo: number, emit: (item: E) => void): void {
    while (this.head < this.buffer.length && (this.buffer[this.head] as E).time <= upTo) emit(this.buffer[this.head++] as E);
    if (this.head > 1024 && this.head * 2 > this.buffer.length) {
      this.buffer = this.buffer.slice(this.head);
      this.head = 0;
    } else if (this.head === this.buffer.length) {
      this.buffer = [];
      this.head = 0;
    }
  }

  private insert(item: E): void {
    let lo = this.head;
    let hi = this.buffer.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.buffer[mid] as E).time <= item.time) lo = mid + 1;
      else hi = mid;
    }
    this.buffer.splice(lo, 0, item);
  }

  /** Held items (oldest first, each encoded) and the watermark reached. Marks the held items as covered by a checkpoint. */
  snapshot<T = E>(encode?: (item: E) => T): OrderBufferSnapshot<T> {
    this.covered = true;
    const items = this.buffer.slice(this.head);
    return { watermark: encodeTime(this.lastFinite), items: encode ? items.map(encode) : (items as unknown as T[]) };
  }

  /**
   * Replace the held items with a snapshot's. The watermark it had reached is
   * restored too, so items arriving behind it pass at once as they would have
   * without the restart. Throws (changing nothing) on an unreadable snapshot.
   */
  restore(state: unknown, decode?: (item: unknown) => E): void {
    const s = expectObject(state, 'order buffer');
    const watermark = decodeTime(s.watermark, Number.NEGATIVE_INFINITY, 'order buffer watermark');
    const items = expectArray(s.items, 'order buffer items').map((raw, i) => {
      const item = decode ? decode(raw) : (raw as E);
      if (typeof item !== 'object' || item === null || typeof item.time !== 'number' || !Number.isFinite(item.time))
        throw new CheckpointFormatError(`order buffer item ${i} has no event time`);
      return item;
    });
    items.sort((a, b) => a.time - b.time); // stable: ties keep their saved (arrival) order
    this.buffer = items;
    this.head = 0;
    this.watermark = watermark;
    this.lastFinite = watermark;
    this.covered = false;
  }

  /** A checkpoint handle for this buffer (register it with `ctx.registerCheckpoint(name, buffer.checkpoint())`). */
  checkpoint(codec: { encode?: (item: E) => unknown; decode?: (item: unknown) => E } = {}): {
    version: string;
    snapshot(): unknown;
    restore(state: unknown): void;
  } {
    return {
      version: ORDER_BUFFER_VERSION,
      snapshot: () => this.snapshot(codec.encode),
      restore: (state) => this.restore(state, codec.decode),
    };
  }
}

/**
 * Re-order a stream by event time: hold each event until the watermark
 * reaches its time, then release held events in event-time order (ties in
 * arrival order). Events already at or behind the watermark pass at once.
 * When the source completes, everything held is released (unless a
 * checkpoint covers it: see `OrderBuffer`). A watermark of `+Infinity`
 * (every source completed) releases nothing by itself: events still queued
 * behind it are held and released in order at completion.
 *
 * For stateful analytics that must see steps in the order they happened
 * (share before consume before revoke) although sources deliver them out of
 * order within the allowed out-of-orderness. Pass `options.buffer` and
 * checkpoint it to keep the held events across restarts.
 */
export function eventTimeOrdered<E extends { time: number }>(watermark$: Observable<number>, options: EventTimeOrderedOptions<E> = {}): OperatorFunction<E, E> {
  return (source) =>
    new Observable<E>((subscriber) => {
      const buffer =
        options.buffer ??
        new OrderBuffer<E>({
          ...(options.maxBuffer !== undefined ? { maxBuffer: options.maxBuffer } : {}),
          ...(options.onOverflow ? { onOverflow: options.onOverflow } : {}),
        });
      const emit = (e: E) => subscriber.next(e);
      const sourceSub = source.subscribe({
        next: (event) => buffer.push(event, emit),
        error: (err) => subscriber.error(err),
        complete: () => {
          buffer.complete(emit);
          subscriber.complete();
        },
      });
      const wmSub = watermark$.subscribe({
        next: (wm) => buffer.advance(wm, emit),
        error: (err) => subscriber.error(err),
      });
      return () => {
        sourceSub.unsubscribe();
        wmSub.unsubscribe();
      };
    });
}
