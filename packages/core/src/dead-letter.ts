import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { Alert } from './alert.js';

/** Pipeline stage where a record failed. */
export type DeadLetterStage = 'receive' | 'decode' | 'process' | 'detect' | 'export' | 'late';

/** What a component hands to the dead letter. */
export interface DeadLetterInput {
  stage: DeadLetterStage;
  /** Short machine-readable reason, e.g. `invalid_json`, `missing_field`, `exception`. Also the `reason` label of the error counter. */
  reason: string;
  /** Human-readable detail: the parser message, the exception text. */
  message?: string;
  /** The raw bytes of the record as received. */
  raw?: string | Uint8Array;
  /** File and line, byte offset, peer address. */
  location?: string;
  /** The normalized event, when the failure happened after decoding. */
  event?: unknown;
  /** The alert, for export failures. */
  alert?: Alert;
}

/** A dead-letter record as written. */
export interface DeadLetterEntry {
  time: string;
  pipeline: string;
  component: string;
  stage: DeadLetterStage;
  reason: string;
  message?: string;
  /** Raw bytes: UTF-8 text when they decode as UTF-8, otherwise base64 (see `rawEncoding`). */
  raw?: string;
  rawEncoding?: 'utf8' | 'base64';
  /** Set when `raw` was cut at `maxRawBytes`; `rawBytes` is the original length. */
  rawTruncated?: boolean;
  rawBytes?: number;
  location?: string;
  event?: unknown;
  alert?: Alert;
}

/** The entry a dead-letter sink writes for `input`: who and when, the raw bytes encoded, absent fields left out. */
export function deadLetterEntry(input: DeadLetterInput, where: { time: number; pipeline: string; component: string }): DeadLetterEntry {
  return {
    time: new Date(where.time).toISOString(),
    pipeline: where.pipeline,
    component: where.component,
    stage: input.stage,
    reason: input.reason,
    ...(input.message !== undefined ? { message: input.message } : {}),
    ...(input.raw !== undefined ? encodeRaw(input.raw) : {}),
    ...(input.location !== undefined ? { location: input.location } : {}),
    ...(input.event !== undefined ? { event: input.event } : {}),
    ...(input.alert !== undefined ? { alert: input.alert } : {}),
  };
}

/** Where dead-lettered records go. `write` must not throw and must not block. */
export interface DeadLetterSink {
  write(entry: DeadLetterEntry): void;
  flush?(): Promise<void>;
  close?(): Promise<void>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Encode raw bytes for a dead-letter entry: UTF-8 when valid, base64 otherwise, cut at `maxBytes`. */
export function encodeRaw(raw: string | Uint8Array, maxBytes = 1 << 20): Pick<DeadLetterEntry, 'raw' | 'rawEncoding' | 'rawTruncated' | 'rawBytes'> {
  if (typeof raw === 'string') {
    if (raw.length <= maxBytes) return { raw, rawEncoding: 'utf8' };
    return { raw: raw.slice(0, maxBytes), rawEncoding: 'utf8', rawTruncated: true, rawBytes: Buffer.byteLength(raw) };
  }
  const bytes = raw.byteLength > maxBytes ? raw.subarray(0, maxBytes) : raw;
  const cut = raw.byteLength > maxBytes ? { rawTruncated: true, rawBytes: raw.byteLength } : {};
  try {
    return { raw: utf8.decode(bytes), rawEncoding: 'utf8', ...cut };
  } catch {
    return { raw: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), rawEncoding: 'base64', ...cut };
  }
}

/** Keeps the newest `capacity` entries in memory; counts what it overwrote. The default sink. */
export class MemoryDeadLetter implements DeadLetterSink {
  private readonly buffer: DeadLetterEntry[] = [];
  private start = 0;
  /** Entries overwritten because the ring was full (also counted as `dropped{reason=dead_letter_overwritten}` by the pipeline). */
  overwritten = 0;
  total = 0;

  constructor(readonly capacity = 10_000) {
    if (!(capacity >= 1)) throw new RangeError('MemoryDeadLetter capacity must be at least 1');
  }

  write(entry: DeadLetterEntry): void {
    this.total++;
    if (this.buffer.length < this.capacity) {
      this.buffer.push(entry);
      return;
    }
    this.buffer[this.start] = entry;
    this.start = (this.start + 1) % this.capacity;
    this.overwritten++;
  }

  /** Entries kept, oldest first. */
  entries(): DeadLetterEntry[] {
    return [...this.buffer.slice(this.start), ...this.buffer.slice(0, this.start)];
  }
}

export interface FileDeadLetterOptions {
  /** JSON-lines file to append to; its directory is created. */
  path: string;
  /** Entries held in memory while the file is slow; past this, entries are counted in `dropped` (never silently). Default 100 000. */
  maxPending?: number;
}

/** Appends each entry as one JSON line to a file. */
export class FileDeadLetter implements DeadLetterSink {
  private stream: WriteStream | undefined;
  private pending = 0;
  dropped = 0;
  written = 0;
  private readonly maxPending: number;

  constructor(private readonly options: FileDeadLetterOptions) {
    this.maxPending = options.maxPending ?? 100_000;
  }

  private open(): WriteStream {
    if (!this.stream) {
      mkdirSync(dirname(this.options.path), { recursive: true });
      this.stream = createWriteStream(this.options.path, { flags: 'a' });
      this.stream.on('error', () => {
        // write errors surface as dropped entries; the host keeps running
        this.dropped += this.pending;
        this.pending = 0;
      });
    }
    return this.stream;
  }

  write(entry: DeadLetterEntry): void {
    if (this.pending >= this.maxPending) {
      this.dropped++;
      return;
    }
    this.pending++;
    this.open().write(`${JSON.stringify(entry)}\n`, () => {
      this.pending--;
      this.written++;
    });
  }

  async flush(): Promise<void> {
    const stream = this.stream;
    if (!stream || this.pending === 0) return;
    await new Promise<void>((resolve) => stream.write('', () => resolve()));
  }

  async close(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    if (!stream) return;
    await new Promise<void>((resolve) => stream.end(() => resolve()));
  }
}
