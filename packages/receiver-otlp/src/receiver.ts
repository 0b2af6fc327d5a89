import { type ComponentContext, type DecodeMeta, defineComponent, type FormatDefinition, type Receiver, type ReceiverHost, z } from '@outflow/core';
import { createHttpReceiver, type HttpReceiver, httpLocation, httpServerSchemaWith, type IngestRequest, type IngestResponse } from '@outflow/io';
import { collectMapping, OtlpLogsMapper, RequestShapeError } from './mapping.js';
import { decodeLogsRequest, encodeLogsResponse, encodeStatus, ProtobufError } from './protobuf.js';

/** The OTLP/HTTP default port. */
export const OTLP_HTTP_PORT = 4318;

function isFormatDefinition(value: unknown): value is FormatDefinition {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { name?: unknown; decoder?: { decode?: unknown } };
  return typeof v.name === 'string' && typeof v.decoder?.decode === 'function';
}

const ruleSchema = z
  .object({
    match: z
      .object({
        /** A log record attribute that must exist (and pass equals/prefix). */
        attribute: z.string().min(1).optional(),
        /** A resource attribute that must exist (and pass equals/prefix). */
        resourceAttribute: z.string().min(1).optional(),
        equals: z.string().optional(),
        prefix: z.string().optional(),
      })
      .strict()
      .refine((m) => m.attribute !== undefined || m.resourceAttribute !== undefined || m.equals !== undefined || m.prefix !== undefined, {
        message: 'a rule matches on attribute, resourceAttribute, equals or prefix',
      }),
    format: z.string().min(1),
  })
  .strict();

export const otlpLogsSchema = z
  .object({
    /** The HTTP server (`@outflow/io`), on 127.0.0.1:4318 by default. */
    http: httpServerSchemaWith({ port: OTLP_HTTP_PORT }).prefault({}),
    /** URL path of the logs endpoint. */
    path: z.string().startsWith('/').default('/v1/logs'),
    /** Formats log record bodies may be in: pass the `formats` arrays of receiver packages. */
    formats: z.array(z.custom<FormatDefinition>(isFormatDefinition, 'expected a FormatDefinition (name, framing, decoder)')).default([]),
    /** Routing rules, checked in order before sniffing. */
    rules: z.array(ruleSchema).default([]),
    /** Recognise bodies with each format's sniff when no rule matched. */
    sniff: z.boolean().default(true),
    /** Lowest sniff confidence accepted. */
    sniffThreshold: z.number().min(0).max(1).default(0.5),
    /** Records no rule or format maps: counted as dropped (`drop`) or written to the dead letter (`dead_letter`). */
    unmapped: z.enum(['drop', 'dead_letter']).default('drop'),
  })
  .strict();

export type OtlpLogsConfig = z.output<typeof otlpLogsSchema>;
export type OtlpLogsConfigInput = z.input<typeof otlpLogsSchema>;

const JSON_TYPE = 'application/json';
const PROTOBUF_TYPE = 'application/x-protobuf';

/** google.rpc.Code values used in Status bodies. */
const CODE_INVALID_ARGUMENT = 3;
const CODE_RESOURCE_EXHAUSTED = 8;
const CODE_UNAVAILABLE = 14;

function mediaType(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return '';
  const semi = value.indexOf(';');
  return (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
}

/** Receives OTLP/HTTP logs and maps each record to an event through the configured formats. */
export class OtlpLogsReceiver implements Receiver {
  private readonly http: HttpReceiver;
  private readonly mapper: OtlpLogsMapper;

  constructor(
    readonly ctx: ComponentContext,
    readonly config: OtlpLogsConfig,
  ) {
    this.mapper = new OtlpLogsMapper({ formats: config.formats, rules: config.rules, sniff: config.sniff, sniffThreshold: config.sniffThreshold });
    this.http = createHttpReceiver(ctx, config.http, { [config.path]: (req, host) => this.handle(req, host) });
  }

  start(host: ReceiverHost): Promise<void> | void {
    return this.http.start(host);
  }

  shutdown(): Promise<void> {
    return this.http.shutdown();
  }

  /** Where the server listens, once started. */
  address(): { port: number; url: string } | undefined {
    return this.http.address();
  }

  /** Answer one OTLP/HTTP request. Exported for tests; never throws. */
  handle(req: IngestRequest, host: ReceiverHost): IngestResponse {
    const type = mediaType(req.headers['content-type']);
    const asJson = type !== PROTOBUF_TYPE;
    const status = (code: number, grpcCode: number, message: string, headers: Record<string, string> = {}): IngestResponse => ({
      status: code,
      headers: { 'Content-Type': asJson ? JSON_TYPE : PROTOBUF_TYPE, ...headers },
      body: asJson ? JSON.stringify({ code: grpcCode, message }) : Buffer.from(encodeStatus(grpcCode, message)),
    });
    if (req.method !== 'POST') return status(405, CODE_INVALID_ARGUMENT, `method ${req.method} not allowed; OTLP/HTTP uses POST`, { Allow: 'POST' });
    if (type !== JSON_TYPE && type !== PROTOBUF_TYPE)
      return status(415, CODE_INVALID_ARGUMENT, `unsupported Content-Type "${type}"; send ${PROTOBUF_TYPE} or ${JSON_TYPE}`);

    const location = httpLocation(req.remoteAddress);
    const bad = (reason: string, message: string): IngestResponse => {
      host.deadLetter({ stage: 'decode', reason, message, raw: req.body, location });
      return status(400, CODE_INVALID_ARGUMENT, message);
    };
    let request: unknown;
    if (asJson) {
      try {
        request = JSON.parse(req.body.toString('utf8'));
      } catch (err) {
        return bad('invalid_json', `request body is not JSON: ${(err as Error).message}`);
      }
    } else {
      try {
        request = decodeLogsRequest(req.body);
      } catch (err) {
        if (err instanceof ProtobufError) return bad('invalid_protobuf', `request body is not an ExportLogsServiceRequest: ${err.message}`);
        return bad('invalid_protobuf', `request body could not be decoded: ${String(err)}`);
      }
    }

    const meta: DecodeMeta = { observedTime: host.now(), location, receiver: host.name };
    const out = collectMapping();
    let result: ReturnType<OtlpLogsMapper['map']>;
    try {
      result = this.mapper.map(request, meta, out);
    } catch (err) {
      if (err instanceof RequestShapeError) return bad('invalid_request', `not an ExportLogsServiceRequest: ${err.message}`);
      return bad('exception', `mapping failed: ${String(err)}`);
    }

    // Decide on the whole request before writing dead letters, so that a retried request is not dead-lettered twice.
    if (out.events.length > 0 && !host.tryEmit(out.events)) {
      const code = this.config.http.busyStatus;
      return status(code, code === 429 ? CODE_RESOURCE_EXHAUSTED : CODE_UNAVAILABLE, 'the pipeline is busy; retry later', {
        'Retry-After': String(this.config.http.retryAfterSeconds),
      });
    }
    for (const e of out.errors)
      host.deadLetter({ stage: 'decode', reason: e.reason, message: e.message, raw: e.raw, location: e.location ? `${location}#${e.location}` : location });
    if (out.unmappedRecords.length > 0) {
      if (this.config.unmapped === 'dead_letter') {
        for (const u of out.unmappedRecords)
          host.deadLetter({
            stage: 'decode',
            reason: 'unmapped',
            message: 'no rule or format recognised the log record',
            raw: JSON.stringify(u.record),
            location: `${location}#${u.detail}`,
          });
      } else host.metrics.add('dropped', out.unmappedRecords.length, 'unmapped');
    }
    if (out.emptyRecords > 0) host.metrics.add('dropped', out.emptyRecords, 'no_event');

    let partial: { rejectedLogRecords: number; errorMessage: string } | undefined;
    if (result.rejected > 0) {
      const parts: string[] = [];
      if (result.unmapped > 0) parts.push(`${result.unmapped} matched no mapping rule or format`);
      if (result.failed > 0) parts.push(`${result.failed} failed to decode (first: ${result.firstFailure ?? 'unknown'})`);
      partial = { rejectedLogRecords: result.rejected, errorMessage: `${result.rejected} of ${result.records} log records rejected: ${parts.join('; ')}` };
    }
    if (asJson) {
      const body = partial ? { partialSuccess: { rejectedLogRecords: String(partial.rejectedLogRecords), errorMessage: partial.errorMessage } } : {};
      return { status: 200, headers: { 'Content-Type': JSON_TYPE }, body: JSON.stringify(body) };
    }
    return { status: 200, headers: { 'Content-Type': PROTOBUF_TYPE }, body: Buffer.from(encodeLogsResponse(partial)) };
  }
}

/**
 * `otlp` receiver: OTLP/HTTP logs (JSON and protobuf, gzip) on `/v1/logs`.
 * Each log record's body is decoded by one of `formats`, chosen by `rules`
 * or by sniffing:
 *
 * ```ts
 * otlpLogs({ formats: [...falcoFormats, ...tetragonFormats], http: { port: 4318 } })
 * ```
 */
export const otlpLogs = defineComponent({
  type: 'otlp',
  kind: 'receiver',
  stability: 'alpha',
  description:
    'Receives OTLP/HTTP logs (JSON and protobuf, gzip) and decodes each record body with an injected format (Falco, Tetragon, Kubernetes audit, ...)',
  schema: otlpLogsSchema,
  check: (config) => {
    const names = new Set(config.formats.map((f) => f.name));
    return config.rules.flatMap((rule, i) =>
      names.has(rule.format)
        ? []
        : [{ path: `rules[${i}].format`, message: `unknown format "${rule.format}" (configured: ${[...names].join(', ') || 'none'})` }],
    );
  },
  create: (ctx, config) => new OtlpLogsReceiver(ctx, config),
});
