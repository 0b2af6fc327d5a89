import { KeyedState } from '@outflow/core';

/** Header context of the datagram a data set came in, kept with the set while it waits. */
export interface DatagramContext {
  version: number;
  exporter: string;
  domain: number;
  sequence: number;
  /** Export time of the datagram, epoch ms. */
  exportMs: number;
  /** v5/v9 header sysUptime, ms (NaN for IPFIX). */
  sysUptime: number;
  observedTime: number;
  location: string | undefined;
  receiver: string | undefined;
}

/** A data set that arrived before its template. */
export interface PendingSet {
  key: string;
  templateId: number;
  ctx: DatagramContext;
  /** Copy of the whole set (header included). */
  bytes: Uint8Array;
  /** Index of the set among the data sets of its datagram. */
  setIndex: number;
  /** Byte offset of the set in its datagram. */
  offset: number;
  receivedAt: number;
  done: boolean;
}

export type PendingDropReason = 'template_timeout' | 'buffer_full' | 'shutdown';

/**
 * Data sets waiting for their template, per exporter + observation domain +
 * template id, bounded by total bytes, by number of keys and by age.
 *
 * Sets sit in one FIFO by arrival (for the TTL and the byte budget, oldest
 * first) and in a per-key list (KeyedState, capped) to hand them back when the
 * template arrives. Every set leaves exactly once: replayed, or dropped with a reason.
 */
export class PendingBuffer {
  private readonly fifo: PendingSet[] = [];
  private head = 0;
  private readonly byKey: KeyedState<string, PendingSet[]>;
  private onDrop: (set: PendingSet, reason: PendingDropReason) => void = () => {};
  /** Bytes held. */
  bytes = 0;
  /** Sets held. */
  count = 0;

  constructor(
    readonly maxBytes: number,
    readonly ttlMs: number,
    maxKeys: number,
  ) {
    this.byKey = new KeyedState<string, PendingSet[]>({
      maxKeys,
      ttlMs,
      onEvict: (_key, sets, reason) => {
        for (const set of sets) this.release(set, reason === 'cap' ? 'buffer_full' : 'template_timeout');
      },
    });
  }

  /** Keys (exporter + domain + template id) with sets waiting. */
  get keys(): number {
    return this.byKey.size;
  }

  /** Hold a set. Makes room by dropping the oldest sets (`buffer_full`); a set larger than the whole budget is dropped at once. */
  add(set: PendingSet, now: number, onDrop: (set: PendingSet, reason: PendingDropReason) => void): void {
    this.onDrop = onDrop;
    this.expire(now, onDrop);
    if (set.bytes.byteLength > this.maxBytes) {
      onDrop(set, 'buffer_full');
      return;
    }
    while (this.bytes + set.bytes.byteLength > this.maxBytes) {
      const oldest = this.oldest();
      if (!oldest) break;
      this.dropFromKey(oldest, 'buffer_full');
    }
    const list = this.byKey.getOrCreate(set.key, now, () => []);
    list.push(set);
    this.fifo.push(set);
    this.bytes += set.bytes.byteLength;
    this.count++;
  }

  /** Remove and return the sets waiting for `key`, oldest first. */
  take(key: string): PendingSet[] | undefined {
    const list = this.byKey.peek(key);
    if (!list) return undefined;
    this.byKey.delete(key);
    for (const set of list) {
      set.done = true;
      this.bytes -= set.bytes.byteLength;
      this.count--;
    }
    this.compact();
    return list;
  }

  /** Drop sets older than the TTL (`template_timeout`). Returns how many were dropped. */
  expire(now: number, onDrop: (set: PendingSet, reason: PendingDropReason) => void): number {
    this.onDrop = onDrop;
    let n = 0;
    for (;;) {
      const oldest = this.oldest();
      if (!oldest || oldest.receivedAt + this.ttlMs > now) break;
      this.dropFromKey(oldest, 'template_timeout');
      n++;
    }
    return n;
  }

  /** Drop everything (shutdown), reporting each set. */
  clear(onDrop: (set: PendingSet, reason: PendingDropReason) => void, reason: PendingDropReason = 'shutdown'): void {
    this.onDrop = onDrop;
    for (;;) {
      const oldest = this.oldest();
      if (!oldest) break;
      this.dropFromKey(oldest, reason);
    }
  }

  private oldest(): PendingSet | undefined {
    while (this.head < this.fifo.length) {
      const set = this.fifo[this.head] as PendingSet;
      if (!set.done) return set;
      this.head++;
    }
    this.fifo.length = 0;
    this.head = 0;
    return undefined;
  }

  private dropFromKey(set: PendingSet, reason: PendingDropReason): void {
    const list = this.byKey.peek(set.key);
    if (list) {
      const i = list.indexOf(set);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byKey.delete(set.key);
    }
    this.release(set, reason);
  }

  private release(set: PendingSet, reason: PendingDropReason): void {
    if (set.done) return;
    set.done = true;
    this.bytes -= set.bytes.byteLength;
    this.count--;
    this.onDrop(set, reason);
  }

  private compact(): void {
    // drop finished entries from the FIFO once they make up most of it
    if (this.fifo.length > 64 && this.count < (this.fifo.length - this.head) / 2) {
      const live = this.fifo.filter((s) => !s.done);
      this.fifo.length = 0;
      this.fifo.push(...live);
      this.head = 0;
    }
  }
}
