import type { DeadLetterInput } from '../dead-letter.js';
import type { OutflowEvent } from '../events.js';
import type { ComponentMetrics } from '../telemetry.js';

/**
 * What a receiver is given at start: the door into the pipeline.
 *
 * Receivers batch at the edge (one call per file chunk, HTTP request or
 * datagram) and choose how to meet backpressure: a pull source (a file) awaits
 * `emit`; a push source (an HTTP server) uses `tryEmit` and answers 429/503
 * when it returns false.
 */
export interface ReceiverHost {
  readonly name: string;
  /**
   * Hand a batch to the pipeline. Resolves once the batch is queued; under the
   * `block` overflow policy it waits for room. Under a dropping policy it
   * resolves at once and the drop is counted.
   */
  emit(batch: OutflowEvent[], options?: EmitOptions): Promise<void>;
  /** Queue a batch only if it fits now. Returns false (and counts the batch as refused) when the queue is full. */
  tryEmit(batch: OutflowEvent[], options?: EmitOptions): boolean;
  /**
   * The position this receiver reported in the checkpoint the pipeline was
   * restored from (see `Receiver.position`), for resuming where that state
   * left off; undefined when there is none.
   */
  readonly restoredPosition?: unknown;
  /** Record a bad input: counted as an error with its reason and written to the dead letter with its raw bytes. */
  deadLetter(entry: DeadLetterInput): void;
  /** A finite source is exhausted (a replayed file, a fixture). The pipeline finishes when every receiver has completed. */
  complete(): void;
  readonly metrics: ComponentMetrics;
  /** Processing-time clock for `observedTime`. */
  now(): number;
}

export interface EmitOptions {
  /**
   * Called once every event of the batch has been processed (enriched and seen
   * by every detection), in batch order. Acknowledge upstream here for
   * at-least-once delivery, and advance the position `Receiver.position`
   * reports. Not called for a batch that was dropped or refused.
   */
  onProcessed?: () => void;
}

/** A source of events. */
export interface Receiver {
  /** Begin receiving. Resolves once listening (sockets bound, files opened); events may flow before it resolves. */
  start(host: ReceiverHost): Promise<void> | void;
  /** Stop receiving and release resources. Idempotent and safe before start. */
  shutdown(): Promise<void>;
  /**
   * Position covering exactly the events processed so far (advance it in
   * `onProcessed`), saved with each pipeline checkpoint and handed back as
   * `host.restoredPosition` after a restore. Plain data.
   */
  position?(): unknown;
}

/** Where a decoder puts what it decoded. */
export interface DecodeSink<E = OutflowEvent> {
  event(event: E): void;
  error(error: DecodeError): void;
}

export interface DecodeError {
  /** Short machine-readable reason: `invalid_json`, `missing_field`, `unsupported_version`, ... */
  reason: string;
  /** Human-readable detail. */
  message: string;
  /** The raw bytes of the bad record. */
  raw: string | Uint8Array;
  /** Where it came from inside the input (line number, record index, byte offset). */
  location?: string;
}

/**
 * Context of one decode call. Transports may reuse one meta object across
 * calls (updating `line`), so decoders must not keep a reference to it.
 */
export interface DecodeMeta {
  /** Ingest time to stamp as `observedTime`. */
  observedTime: number;
  /** Where the input came from: file path, `http://peer`, `udp://peer:port`. Events get `location` = this plus `:line` when a line is known. */
  location?: string;
  /** 1-based line number of `input` within its file, for line-framed input. */
  line?: number;
  /** The first line of the file `input` came from (line-framed files), for formats whose header names the fields (AWS VPC flow logs). */
  firstLine?: string;
  receiver?: string;
}

/** `path:line` or `path` from a DecodeMeta, for event locations and derived ids. */
export function metaLocation(meta: DecodeMeta): string | undefined {
  if (meta.location === undefined) return undefined;
  return meta.line === undefined ? meta.location : `${meta.location}:${meta.line}`;
}

/**
 * A pure decoder: bytes or text in, normalized events out. Never throws;
 * malformed records go to `sink.error` and decoding goes on with the next one.
 */
export interface Decoder<In = string | Uint8Array, E = OutflowEvent> {
  /** Format name, e.g. `k8s_audit`. */
  readonly format: string;
  decode(input: In, sink: DecodeSink<E>, meta: DecodeMeta): void;
}

/** Decode everything in `input` into arrays. Convenient for tests and small inputs. */
export function decodeAll<In, E>(decoder: Decoder<In, E>, input: In, meta: Partial<DecodeMeta> = {}): { events: E[]; errors: DecodeError[] } {
  const events: E[] = [];
  const errors: DecodeError[] = [];
  try {
    decoder.decode(input, { event: (e) => events.push(e), error: (e) => errors.push(e) }, { observedTime: meta.observedTime ?? Date.now(), ...meta });
  } catch (err) {
    errors.push({
      reason: 'decoder_exception',
      message: `decoder ${decoder.format} threw: ${err instanceof Error ? err.message : String(err)}`,
      raw: typeof input === 'string' || input instanceof Uint8Array ? input : String(input),
    });
  }
  return { events, errors };
}

/**
 * Decode a batch of records, one `decode` call each: the events they hold, in order. A malformed record goes to
 * `host.deadLetter` (stage `decode`, located at `path:line`, plus the decoder's own detail such as a record index);
 * a decoder that throws costs only its record (`decoder_exception`). `meta.line` is set from `lineOf(i)` for each
 * record when given.
 */
export function decodeRecords(
  decoder: Decoder<string>,
  records: readonly string[],
  host: Pick<ReceiverHost, 'deadLetter'>,
  meta: DecodeMeta,
  lineOf?: (index: number) => number | undefined,
): OutflowEvent[] {
  const events: OutflowEvent[] = [];
  const sink: DecodeSink = {
    event: (e) => events.push(e),
    error: (e) => {
      const at = metaLocation(meta);
      const detail = e.location !== undefined && e.location !== (meta.line === undefined ? undefined : String(meta.line));
      host.deadLetter({
        stage: 'decode',
        reason: e.reason,
        message: e.message,
        raw: e.raw,
        ...(at !== undefined ? { location: detail ? `${at}#${e.location}` : at } : {}),
      });
    },
  };
  for (let i = 0; i < records.length; i++) {
    if (lineOf) meta.line = lineOf(i);
    const record = records[i] as string;
    try {
      decoder.decode(record, sink, meta);
    } catch (err) {
      const at = metaLocation(meta);
      host.deadLetter({
        stage: 'decode',
        reason: 'decoder_exception',
        message: `decoder ${decoder.format} threw: ${err instanceof Error ? err.message : String(err)}`,
        raw: record,
        ...(at !== undefined ? { location: at } : {}),
      });
    }
  }
  return events;
}

/**
 * A named wire format: its decoder, how files of it are framed, and how to
 * recognise it. Receiver packages export their formats so that the CLI
 * (`outflow decode`, `outflow replay`) and generic transports can use them.
 */
export interface FormatDefinition<In = string> {
  /** Format name as used on the command line: `k8s_audit`, `aws_vpc_flow`, ... */
  readonly name: string;
  readonly description: string;
  /** `lines`: one record per line (decoder gets each line); `document`: a whole file is one input (decoder gets the text). */
  readonly framing: 'lines' | 'document';
  readonly decoder: Decoder<In>;
  /**
   * Confidence in [0, 1] that `head` (the first 64 KiB of a file, decompressed)
   * is in this format. Used when no format is given.
   */
  sniff?(head: string): number;
}
