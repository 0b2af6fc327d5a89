import { statSync } from 'node:fs';
import type { DecodeError, FormatDefinition, OutflowEvent, Receiver, ReceiverHost } from '@outflow/core';
import { detectFormat, readRecords } from './formats.js';

export interface ReplayInput {
  path: string;
  format: FormatDefinition;
}

export interface ReplayOptions {
  inputs: readonly ReplayInput[];
  /** Only events with from <= time < to (epoch ms). */
  from?: number;
  to?: number;
  /** Pace playback: event time advances `speed` times faster than wall time. Undefined: as fast as possible. */
  speed?: number;
  /** Events per emitted batch. Default 1000. */
  batchSize?: number;
  /** Called as input bytes are consumed, for a progress bar. */
  onProgress?: (bytesRead: number, bytesTotal: number, eventTime: number) => void;
  signal?: AbortSignal;
}

/** Resolve files to inputs, detecting each file's format unless one is forced. Files whose format is unknown are returned apart. */
export function resolveInputs(files: readonly string[], forced?: FormatDefinition): { inputs: ReplayInput[]; unknown: string[] } {
  const inputs: ReplayInput[] = [];
  const unknown: string[] = [];
  for (const path of files) {
    const format = forced ?? detectFormat(path);
    if (format) inputs.push({ path, format });
    else unknown.push(path);
  }
  return { inputs, unknown };
}

interface Cursor {
  input: ReplayInput;
  iterator: AsyncIterator<OutflowEvent[]>;
  buffer: OutflowEvent[];
  index: number;
  done: boolean;
}

/**
 * Replays files in event time: every file is decoded as a stream, and the
 * streams are merged by event time (a k-way merge over each file's decoded
 * events), so events of different sources reach the pipeline in the order they
 * happened. Bad records are dead-lettered; the replay goes on.
 */
export class ReplayReceiver implements Receiver {
  private stopped = false;
  private bytesRead = 0;
  private readonly bytesTotal: number;

  constructor(private readonly options: ReplayOptions) {
    this.bytesTotal = options.inputs.reduce((sum, i) => sum + statSync(i.path).size, 0);
  }

  private async *decodeFile(input: ReplayInput, host: ReceiverHost): AsyncGenerator<OutflowEvent[]> {
    const { from = Number.NEGATIVE_INFINITY, to = Number.POSITIVE_INFINITY } = this.options;
    let out: OutflowEvent[] = [];
    const sink = {
      event: (e: OutflowEvent) => {
        if (e.time >= from && e.time < to) out.push(e);
      },
      error: (e: DecodeError) =>
        host.deadLetter({ stage: 'decode', reason: e.reason, message: e.message, raw: e.raw, ...(e.location ? { location: e.location } : {}) }),
    };
    const fileSize = statSync(input.path).size;
    let consumed = 0;
    for await (const { record, line, firstLine } of readRecords(input.path, input.format.framing)) {
      input.format.decoder.decode(record, sink, {
        observedTime: host.now(),
        location: input.path,
        line,
        ...(firstLine !== undefined ? { firstLine } : {}),
        receiver: host.name,
      });
      const bytes = input.format.framing === 'document' ? fileSize : Math.min(fileSize - consumed, record.length + 1);
      consumed += bytes;
      this.bytesRead += bytes;
      if (out.length >= 256) {
        out.sort((a, b) => a.time - b.time);
        yield out;
        out = [];
      }
    }
    if (out.length > 0) {
      out.sort((a, b) => a.time - b.time);
      yield out;
    }
  }

  async start(host: ReceiverHost): Promise<void> {
    void this.run(host).catch((err: unknown) => {
      host.deadLetter({ stage: 'receive', reason: 'replay_failed', message: err instanceof Error ? err.message : String(err) });
      host.complete();
    });
  }

  private async run(host: ReceiverHost): Promise<void> {
    const cursors: Cursor[] = this.options.inputs.map((input) => ({ input, iterator: this.decodeFile(input, host), buffer: [], index: 0, done: false }));
    const fill = async (c: Cursor) => {
      while (!c.done && c.index >= c.buffer.length) {
        const next = await c.iterator.next();
        if (next.done) c.done = true;
        else {
          c.buffer = next.value;
          c.index = 0;
        }
      }
    };
    await Promise.all(cursors.map(fill));
    const batchSize = this.options.batchSize ?? 1000;
    let batch: OutflowEvent[] = [];
    let paceStartWall = 0;
    let paceStartEvent = Number.NaN;
    let lastProgress = 0;
    for (;;) {
      if (this.stopped || this.options.signal?.aborted) break;
      let best: Cursor | undefined;
      for (const c of cursors) {
        if (c.index >= c.buffer.length) continue;
        if (!best || (c.buffer[c.index] as OutflowEvent).time < (best.buffer[best.index] as OutflowEvent).time) best = c;
      }
      if (!best) break;
      const event = best.buffer[best.index++] as OutflowEvent;
      if (best.index >= best.buffer.length) await fill(best);
      batch.push(event);
      if (this.options.speed !== undefined) {
        if (Number.isNaN(paceStartEvent)) {
          paceStartEvent = event.time;
          paceStartWall = Date.now();
        }
        const due = paceStartWall + (event.time - paceStartEvent) / this.options.speed;
        const wait = due - Date.now();
        if (wait > 5) {
          if (batch.length > 1) {
            const last = batch.pop() as OutflowEvent;
            await host.emit(batch);
            batch = [last];
          }
          await new Promise((r) => setTimeout(r, Math.min(wait, 1000)));
        }
      }
      if (batch.length >= batchSize) {
        await host.emit(batch);
        batch = [];
        const now = Date.now();
        if (now - lastProgress > 100) {
          lastProgress = now;
          this.options.onProgress?.(this.bytesRead, this.bytesTotal, event.time);
        }
      }
    }
    if (batch.length > 0) await host.emit(batch);
    this.options.onProgress?.(this.bytesTotal, this.bytesTotal, Number.NaN);
    for (const c of cursors) await c.iterator.return?.(undefined);
    host.complete();
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
  }
}
