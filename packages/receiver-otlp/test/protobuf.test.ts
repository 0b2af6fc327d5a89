import { gzipSync } from 'node:zlib';
import { type Context, context, ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, type ReadableLogRecord, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { describe, expect, it } from 'vitest';
import { decodeLogsRequest, encodeLogsResponse, encodeStatus, ProtobufError } from '../src/index.js';

/** Log records made by the real OpenTelemetry JS SDK, to check the reader against a real encoder. */
async function sdkRecords(): Promise<ReadableLogRecord[]> {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'web-0', 'service.name': 'web' }),
    processors: [new SimpleLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger('outflow-test', '1.2.3');
  const spanContext = { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', traceFlags: TraceFlags.SAMPLED };
  const withSpan: Context = trace.setSpanContext(ROOT_CONTEXT, spanContext);
  logger.emit({
    timestamp: new Date(Date.UTC(2024, 5, 12, 9, 14, 2, 551)),
    observedTimestamp: new Date(Date.UTC(2024, 5, 12, 9, 14, 3)),
    severityNumber: 9,
    severityText: 'INFO',
    body: 'flow 2024-06-12T09:14:02.551Z 10.42.3.18 198.51.100.77 5242880',
    attributes: {
      'log.file.name': 'flows.log',
      count: 42,
      big: 2 ** 40 + 3,
      negative: -7,
      ratio: 0.25,
      ok: true,
      tags: ['a', 'b'],
      nested: { inner: 'x', depth: 2 },
      blob: new Uint8Array([0, 1, 2, 250]),
      'utf8.text': 'größe ✓',
    },
    context: withSpan,
  });
  logger.emit({ body: { alert: 'Terminal shell', time: '2024-06-12T09:15:00Z', pod: 'web-0', list: [1, 'two', false] }, severityNumber: 13 });
  logger.emit({ body: 'x'.repeat(300), eventName: 'app.event' });
  await provider.forceFlush();
  context.disable();
  const records = exporter.getFinishedLogRecords() as ReadableLogRecord[];
  await provider.shutdown();
  return records;
}

/** Bring both encodings to one comparable form: int64s as strings, hex ids lower-case, empty fields dropped. */
function normalize(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => normalize(v));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (
        v === undefined ||
        v === null ||
        (Array.isArray(v) && v.length === 0 && k !== 'values') ||
        v === '' ||
        (v === 0 && k !== 'intValue' && k !== 'doubleValue')
      )
        continue;
      out[k] = normalize(v, k);
    }
    return out;
  }
  if ((key === 'intValue' || key.endsWith('UnixNano')) && typeof value === 'number') return String(value);
  if ((key === 'traceId' || key === 'spanId') && typeof value === 'string') return value.toLowerCase();
  return value;
}

describe('protobuf reader', () => {
  it('decodes what the OpenTelemetry JS SDK encodes to the same request as its JSON serializer', async () => {
    const records = await sdkRecords();
    expect(records).toHaveLength(3);
    const bytes = ProtobufLogsSerializer.serializeRequest(records);
    const json = JSON.parse(Buffer.from(JsonLogsSerializer.serializeRequest(records) as Uint8Array).toString('utf8'));
    expect(bytes).toBeDefined();
    const decoded = decodeLogsRequest(bytes as Uint8Array);
    expect(normalize(decoded)).toEqual(normalize(json));
    // spot checks against known values, so the test does not only compare two encoders
    const scope = decoded.resourceLogs[0]?.scopeLogs[0];
    expect(scope?.scope?.name).toBe('outflow-test');
    expect(scope?.scope?.version).toBe('1.2.3');
    const first = scope?.logRecords[0];
    expect(first?.timeUnixNano).toBe(String(Date.UTC(2024, 5, 12, 9, 14, 2, 551) * 1e6));
    expect(first?.traceId).toBe('5b8efff798038103d269b633813fc60c');
    expect(first?.spanId).toBe('eee19b7ec3c1b174');
    expect(first?.flags).toBe(1);
    const attr = (k: string) => first?.attributes?.find((a) => a.key === k)?.value;
    expect(attr('big')).toEqual({ intValue: String(2 ** 40 + 3) });
    expect(attr('negative')).toEqual({ intValue: '-7' });
    expect(attr('ratio')).toEqual({ doubleValue: 0.25 });
    expect(attr('ok')).toEqual({ boolValue: true });
    expect(attr('blob')).toEqual({ bytesValue: Buffer.from([0, 1, 2, 250]).toString('base64') });
    expect(attr('utf8.text')).toEqual({ stringValue: 'größe ✓' });
    expect(scope?.logRecords[2]?.eventName).toBe('app.event');
    expect(decoded.resourceLogs[0]?.resource?.attributes).toContainEqual({ key: 'k8s.pod.name', value: { stringValue: 'web-0' } });
  });

  it('skips unknown fields of every wire type', () => {
    // ExportLogsServiceRequest { resource_logs { scope_logs { log_records { severity_text "x"; field 99 varint; field 98 fixed32; field 97 fixed64; field 96 bytes } } }; field 50 varint }
    const record = [0x1a, 0x01, 0x78, 0x98, 0x06, 0x05, 0xc5, 0x06, 1, 2, 3, 4, 0x89, 0x06, 1, 2, 3, 4, 5, 6, 7, 8, 0x82, 0x06, 0x02, 0xff, 0xff];
    const scope = [0x12, record.length, ...record];
    const rl = [0x12, scope.length, ...scope];
    const bytes = Uint8Array.from([0x0a, rl.length, ...rl, 0x90, 0x03, 0x01]);
    expect(decodeLogsRequest(bytes)).toEqual({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ severityText: 'x' }] }] }] });
  });

  it('reads the deprecated instrumentation_library_logs (field 1000) as scope logs', () => {
    const record = [0x1a, 0x01, 0x79];
    const scope = [0x12, record.length, ...record];
    const rl = [0xc2, 0x3e, scope.length, ...scope];
    expect(decodeLogsRequest(Uint8Array.from([0x0a, rl.length, ...rl])).resourceLogs[0]?.scopeLogs[0]?.logRecords).toEqual([{ severityText: 'y' }]);
  });

  it('decodes an empty request to no resource logs', () => {
    expect(decodeLogsRequest(new Uint8Array(0))).toEqual({ resourceLogs: [] });
  });

  it.each([
    ['a truncated length', [0x0a, 0x05, 0x12]],
    ['a truncated varint', [0x0a, 0x02, 0x12, 0x80]],
    ['a wrong wire type for resource_logs', [0x08, 0x01]],
    ['a group wire type', [0x0b]],
    ['field number zero', [0x02, 0x00]],
    ['a varint longer than 10 bytes', [0x90, 0x03, ...new Array(10).fill(0xff), 0x01]],
    ['gzip bytes (not decompressed)', [...gzipSync(Buffer.from('hello'))]],
  ])('rejects %s with ProtobufError', (_name, bytes) => {
    expect(() => decodeLogsRequest(Uint8Array.from(bytes as number[]))).toThrow(ProtobufError);
  });

  it('rejects AnyValue nesting deeper than 32 levels', () => {
    // body: array { array { ... { string "x" } } } nested 40 deep
    let value: number[] = [0x0a, 0x01, 0x78];
    for (let i = 0; i < 40; i++) {
      const arr = [0x0a, ...varint(value.length), ...value];
      value = [0x2a, ...varint(arr.length), ...arr];
    }
    const record = [0x2a, ...varint(value.length), ...value];
    const scope = [0x12, ...varint(record.length), ...record];
    const rl = [0x12, ...varint(scope.length), ...scope];
    expect(() => decodeLogsRequest(Uint8Array.from([0x0a, ...varint(rl.length), ...rl]))).toThrow(/nested deeper/);
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

describe('protobuf writer', () => {
  it('encodes ExportLogsServiceResponse as the SDK reads it', () => {
    expect(ProtobufLogsSerializer.deserializeResponse(encodeLogsResponse())).toEqual({});
    const partial = ProtobufLogsSerializer.deserializeResponse(
      encodeLogsResponse({ rejectedLogRecords: 300, errorMessage: '300 of 1000 log records rejected' }),
    );
    expect(Number(partial.partialSuccess?.rejectedLogRecords)).toBe(300);
    expect(partial.partialSuccess?.errorMessage).toBe('300 of 1000 log records rejected');
  });

  it('encodes google.rpc.Status with code and message', () => {
    expect([...encodeStatus(3, 'bad')]).toEqual([0x08, 0x03, 0x12, 0x03, 0x62, 0x61, 0x64]);
  });
});
