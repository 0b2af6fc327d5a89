/** What a bounded queue does with an item that does not fit. */
export type OverflowPolicy =
  /** `put` waits for room (backpressure); `offer` returns false. */
  | 'block'
  /** The new item is dropped and counted. */
  | 'drop_newest'
  /** The oldest items are dropped (and counted) to make room. */
  | 'drop_oldest'
  /** The new item is refused; the caller tells its sender (HTTP 429/503) and counts it as refused. */
  | 'refuse';

export const OVERFLOW_POLICIES: readonly OverflowPolicy[] = ['block', 'drop_newest', 'drop_oldest', 'refuse'];

export interface BoundedQueueOptions<T> {
  /** Capacity in weight units (items, or events when `weigh` counts a batch's events). */
  capacity: number;
  policy: OverflowPolicy;
  /** Weight of one item; default 1. */
  weigh?: (item: T) => number;
  /** Called for every item the queue drops, with the reason. */
  onDrop?: (item: T, weight: number, reason: string) => void;
}

interface Waiter<T> {
  item: T;
  weight: number;
  resolve: (accepted: boolean) => void;
}

/**
 * A FIFO queue with a capacity and a declared overflow policy. Nothing leaves
 * it unaccounted: every item is either taken or reported to `onDrop`.
 * An item heavier than the whole capacity is accepted only into an empty queue
 * (one holding nothing but zero-weight items).
 */
export class BoundedQueue<T> {
  private items: T[] = [];
  private weights: number[] = [];
  private head = 0;
  private weight = 0;
  private readonly waiters: Waiter<T>[] = [];
  private readonly listeners = new Set<() => void>();
  private closed = false;
  readonly capacity: number;
  readonly policy: OverflowPolicy;
  private readonly weigh: (item: T) => number;
  private readonly onDrop: (item: T, weight: number, reason: string) => void;

  constructor(options: BoundedQueueOptions<T>) {
    if (!(options.capacity > 0)) throw new RangeError('BoundedQueue capacity must be positive');
    this.capacity = options.capacity;
    this.policy = options.policy;
    this.weigh = options.weigh ?? (() => 1);
    this.onDrop = options.onDrop ?? (() => {});
  }

  /** Total weight queued. */
  get size(): number {
    return this.weight;
  }

  /** Items queued. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Callers waiting in `put` for room. */
  get blocked(): number {
    return this.waiters.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private fits(weight: number): boolean {
    return this.weight + weight <= this.capacity || this.weight === 0;
  }

  private push(item: T, weight: number): void {
    this.items.push(item);
    this.weights.push(weight);
    this.weight += weight;
    for (const listener of this.listeners) listener();
  }

  /**
   * Add without waiting. Returns true when queued. When full: `drop_oldest`
   * makes room and returns true; the other policies return false and leave
   * counting to the caller (refused or dropped, as it decides).
   */
  offer(item: T): boolean {
    if (this.closed) return false;
    const weight = this.weigh(item);
    if (this.waiters.length === 0 && this.fits(weight)) {
      this.push(item, weight);
      return true;
    }
    if (this.policy === 'drop_oldest') {
      while (!this.fits(weight)) this.dropHead('queue_full');
      this.push(item, weight);
      return true;
    }
    return false;
  }

  /**
   * Add, applying the policy: `block` waits for room; `drop_newest` and
   * `refuse` drop the item (reported to onDrop with reason `queue_full`);
   * `drop_oldest` makes room. Resolves true when the item was queued.
   */
  put(item: T): Promise<boolean> {
    if (this.closed) {
      this.onDrop(item, this.weigh(item), 'queue_closed');
      return Promise.resolve(false);
    }
    if (this.offer(item)) return Promise.resolve(true);
    const weight = this.weigh(item);
    if (this.policy === 'block') {
      return new Promise((resolve) => this.waiters.push({ item, weight, resolve }));
    }
    this.onDrop(item, weight, 'queue_full');
    return Promise.resolve(false);
  }

  private dropHead(reason: string): void {
    const item = this.items[this.head] as T;
    const weight = this.weights[this.head] as number;
    this.advanceHead();
    this.weight -= weight;
    this.onDrop(item, weight, reason);
  }

  private advanceHead(): void {
    this.items[this.head] = undefined as T;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.weights = this.weights.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * Add regardless of capacity and policy, behind everything queued. For
   * control items of weight zero (end-of-stream markers) that must keep their
   * place in line and must never be dropped. Ignored after close.
   */
  force(item: T): void {
    if (this.closed) return;
    this.push(item, this.weigh(item));
  }

  /** Remove and return the oldest item. */
  take(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head] as T;
    this.weight -= this.weights[this.head] as number;
    this.advanceHead();
    this.admitWaiters();
    return item;
  }

  /** Remove items up to `maxWeight` in total (at least one when not empty). */
  takeUpTo(maxWeight: number): T[] {
    const out: T[] = [];
    let taken = 0;
    while (this.length > 0) {
      const w = this.weights[this.head] as number;
      if (out.length > 0 && taken + w > maxWeight) break;
      out.push(this.items[this.head] as T);
      this.weight -= w;
      taken += w;
      this.advanceHead();
    }
    if (out.length > 0) this.admitWaiters();
    return out;
  }

  private admitWaiters(): void {
    while (this.waiters.length > 0) {
      const next = this.waiters[0] as Waiter<T>;
      if (!this.fits(next.weight)) break;
      this.waiters.shift();
      this.push(next.item, next.weight);
      next.resolve(true);
    }
  }

  /** Call `listener` whenever an item is added. Returns an unsubscribe function. */
  onItem(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Stop accepting. Waiting `put`s resolve false and their items are reported
   * to onDrop with `reason`. Queued items stay for `take` (drain) unless `discard`.
   */
  close(reason = 'queue_closed', discard = false): void {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) {
      this.onDrop(waiter.item, waiter.weight, reason);
      waiter.resolve(false);
    }
    if (discard) while (this.length > 0) this.dropHead(reason);
  }
}
