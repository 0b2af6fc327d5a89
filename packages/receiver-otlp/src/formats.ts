import type { DecodeMeta, Decoder, DecodeSink, FormatDefinition, OutflowEvent } from '@outflow/core';
import { type MapOutput, OtlpLogsMapper, type OtlpMapperOptions, RequestShapeError } from './mapping.js';

/** Format name of files holding OTLP/JSON `ExportLogsServiceRequest` documents (one per line, or one per file). */
export const OTLP_JSON_FORMAT = 'otlp_json';

export interface OtlpJsonDecoderOptions extends OtlpMapperOptions {
  /** What to do with records no rule or format maps: skip them (`drop`, reported through `onSkip`) or report them through `sink.error` (`dead_letter`). Default `drop`. */
  unmapped?: 'drop' | 'dead_letter';
  /** Called for each skipped record with the reason (`unmapped`, or `no_event` when the record's format decoded it to nothing) and where it is (`file:line#resourceLogs[0]...`). */
  onSkip?(reason: string, location: string | undefined): void;
}

function firstChar(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13 && c !== 0xfeff) return c;
  }
  return -1;
}

/**
 * Decodes OTLP/JSON logs files (the OpenTelemetry Collector's file exporter
 * writes one `ExportLogsServiceRequest` per line) into events, through the
 * same record mapping as the OTLP receiver: each record's body is decoded by
 * the format a rule or `sniff` chose.
 */
export class OtlpJsonDecoder implements Decoder<string, OutflowEvent> {
  readonly format = OTLP_JSON_FORMAT;
  private readonly mapper: OtlpLogsMapper;
  private readonly deadLetterUnmapped: boolean;
  private readonly onSkip: ((reason: string, location: string | undefined) => void) | undefined;

  constructor(options: OtlpJsonDecoderOptions) {
    this.mapper = new OtlpLogsMapper(options);
    this.deadLetterUnmapped = options.unmapped === 'dead_letter';
    this.onSkip = options.onSkip;
  }

  decode(input: string, sink: DecodeSink<OutflowEvent>, meta: DecodeMeta): void {
    if (input.indexOf('\n') >= 0 && firstChar(input) === 0x7b) {
      let whole: unknown;
      let parsed = false;
      try {
        whole = JSON.parse(input);
        parsed = true;
      } catch {
        // JSON lines
      }
      if (parsed) {
        this.decodeDocument(whole, input, sink, meta, meta.line);
        return;
      }
      const base = meta.line ?? 1;
      const lines = input.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i] as string;
        if (firstChar(line) >= 0) this.decodeText(line, sink, meta, base + i);
      }
      return;
    }
    if (firstChar(input) >= 0) this.decodeText(input, sink, meta, meta.line);
  }

  private decodeText(text: string, sink: DecodeSink<OutflowEvent>, meta: DecodeMeta, line: number | undefined): void {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      sink.error({ reason: 'invalid_json', message: `not JSON: ${(err as Error).message}`, raw: text, location: detailOf(line) });
      return;
    }
    this.decodeDocument(doc, text, sink, meta, line);
  }

  private decodeDocument(doc: unknown, raw: string, sink: DecodeSink<OutflowEvent>, meta: DecodeMeta, line: number | undefined): void {
    const out: MapOutput = {
      event: (e) => sink.event(e),
      error: (e) => sink.error(e),
      unmapped: (record, detail) => {
        if (this.deadLetterUnmapped)
          sink.error({ reason: 'unmapped', message: 'no rule or format recognised the log record', raw: JSON.stringify(record), location: detail });
        else this.onSkip?.('unmapped', `${docLocation ?? ''}#${detail}`);
      },
      empty: (detail) => this.onSkip?.('no_event', `${docLocation ?? ''}#${detail}`),
    };
    const docLocation = locate(meta, line);
    const docMeta: DecodeMeta = line === undefined ? meta : { ...meta, line };
    try {
      this.mapper.map(doc, docMeta, out);
    } catch (err) {
      if (!(err instanceof RequestShapeError)) throw err;
      sink.error({ reason: 'invalid_request', message: `not an ExportLogsServiceRequest: ${err.message}`, raw, location: detailOf(line) });
    }
  }
}

/** DecodeError.location of a whole document: its line number when known. */
function detailOf(line: number | undefined): string | undefined {
  return line === undefined ? undefined : String(line);
}

function locate(meta: DecodeMeta, line: number | undefined): string | undefined {
  if (meta.location === undefined) return undefined;
  return line === undefined ? meta.location : `${meta.location}:${line}`;
}

/**
 * Confidence that `head` is OTLP/JSON logs: the text starts with an object
 * whose first 4 KiB name `resourceLogs` (0.9, 0.98 with `logRecords`).
 * Traces and metrics files (`resourceSpans`, `resourceMetrics`) score 0.
 */
export function sniffOtlpJson(head: string): number {
  const c = firstChar(head);
  if (c !== 0x7b) return 0;
  const window = head.slice(0, 4096);
  if (window.includes('"resourceLogs"')) return window.includes('"logRecords"') ? 0.98 : 0.9;
  if (window.includes('"resource_logs"')) return 0.6;
  return 0;
}

/**
 * The `otlp_json` format, mapping record bodies with the given formats. The
 * CLI builds it with the formats of the other receiver packages:
 * `otlpFormats({ formats: [...falcoFormats, ...tetragonFormats] })`.
 */
export function otlpFormats(options: OtlpJsonDecoderOptions): FormatDefinition[] {
  return [
    {
      name: OTLP_JSON_FORMAT,
      description: 'OTLP/JSON logs (ExportLogsServiceRequest per line, as the Collector file exporter writes); record bodies decoded by the configured formats',
      framing: 'lines',
      decoder: new OtlpJsonDecoder(options),
      sniff: sniffOtlpJson,
    },
  ];
}

/**
 * This package's formats with no inner formats: every record is unmapped and
 * skipped. Use `otlpFormats({ formats })` to map bodies.
 */
export const formats: FormatDefinition[] = otlpFormats({ formats: [] });
