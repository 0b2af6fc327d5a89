import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { ConfigError, type NetworkFlowEvent } from '@outflow/core';
import { freePort, post, receiverConformance } from '@outflow/testkit';
import { defineConformanceTests, receiverStarter, type StartedReceiver } from '@outflow/testkit/vitest';
import { describe, expect, it } from 'vitest';
import { type OtlpLogsReceiver, otlpLogs } from '../src/index.js';
import { sdkLogRecords } from './sdk.js';
import { testFormats } from './test-formats.js';

const testdata = join(import.meta.dirname, '..', 'testdata');
const JSON_HEADERS = { 'Content-Type': 'application/json' };
const PB_HEADERS = { 'Content-Type': 'application/x-protobuf' };

const FLOW = 'flow 2024-06-12T09:14:02.551Z 10.42.3.18 198.51.100.77 5242880';

/** An OTLP/JSON request whose records have the given string bodies. */
function request(bodies: string[], resource: Record<string, string> = {}, attributes: Record<string, string>[] = []): string {
  return JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: Object.entries(resource).map(([key, v]) => ({ key, value: { stringValue: v } })) },
        scopeLogs: [
          {
            scope: { name: 'test' },
            logRecords: bodies.map((b, i) => ({
              timeUnixNano: String(BigInt(Date.UTC(2024, 5, 12, 9, 0, i)) * 1_000_000n),
              body: { stringValue: b },
              attributes: Object.entries(attributes[i] ?? {}).map(([key, v]) => ({ key, value: { stringValue: v } })),
            })),
          },
        ],
      },
    ],
  });
}

defineConformanceTests(
  'otlp receiver',
  receiverConformance({
    factory: otlpLogs,
    config: async (env) => ({ http: { port: await env.freePort() }, formats: testFormats }),
    sendValid: async (_env, config) => {
      const reply = await post(`http://127.0.0.1:${(config as { http: { port: number } }).http.port}/v1/logs`, request([FLOW]), JSON_HEADERS);
      expect(reply.status).toBe(200);
    },
    sendInvalid: async (_env, config) => {
      const reply = await post(`http://127.0.0.1:${(config as { http: { port: number } }).http.port}/v1/logs`, Buffer.from([0x0a, 0x05, 0x01]), PB_HEADERS);
      expect(reply.status).toBe(400);
    },
  }),
);

describe('otlp receiver over HTTP', () => {
  const startOtlp = receiverStarter<OtlpLogsReceiver>(otlpLogs, { path: '/v1/logs' });
  async function start(config: Record<string, unknown> = {}): Promise<StartedReceiver<OtlpLogsReceiver>> {
    return startOtlp({ formats: testFormats, ...config, http: { port: await freePort(), ...(config.http as object) } });
  }

  it('receives logs from the OpenTelemetry JS OTLP/HTTP exporter (protobuf, gzip) and answers full success', async () => {
    const { host, url } = await start();
    const records = await sdkLogRecords([FLOW, { alert: 'Terminal shell', time: '2024-06-12T09:15:00Z' }], {
      'k8s.namespace.name': 'batch',
      'k8s.pod.name': 'exporter-0',
      'k8s.node.name': 'node-7',
    });
    const exporter = new OTLPLogExporter({ url, compression: 'gzip' as never });
    const result = await new Promise<{ code: number; error?: Error }>((resolve) => exporter.export(records, resolve));
    await exporter.shutdown();
    expect(result.error).toBeUndefined();
    expect(result.code).toBe(0);
    expect(host.events.map((e) => e.kind)).toEqual(['network_flow', 'runtime_alert']);
    const flow = host.events[0] as NetworkFlowEvent;
    expect(flow.bytes).toBe(5242880);
    expect(flow.workload).toEqual({ namespace: 'batch', pod: 'exporter-0', node: 'node-7' });
    expect(flow.location).toMatch(/^http:\/\/127\.0\.0\.1#resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[0\]$/);
    expect(flow.receiver).toBe('otlp');
  });

  it('answers protobuf with a protobuf ExportLogsServiceResponse carrying partial_success', async () => {
    const { host, url } = await start();
    const records = await sdkLogRecords([FLOW, 'flow not-a-time a b 1', 'GET /healthz 200']);
    const body = ProtobufLogsSerializer.serializeRequest(records) as Uint8Array;
    const reply = await post(url, gzipSync(body), { ...PB_HEADERS, 'Content-Encoding': 'gzip' });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/x-protobuf');
    const response = ProtobufLogsSerializer.deserializeResponse(reply.body);
    expect(Number(response.partialSuccess?.rejectedLogRecords)).toBe(2);
    expect(response.partialSuccess?.errorMessage).toBe(
      '2 of 3 log records rejected: 1 matched no mapping rule or format; 1 failed to decode (first: invalid_flow: expected "flow <time> <src> <dst> <bytes>", got 5 fields)',
    );
    expect(host.events).toHaveLength(1);
    expect(host.deadLetters.map((d) => [d.reason, d.location, d.raw])).toEqual([
      ['invalid_flow', 'http://127.0.0.1#resourceLogs[0].scopeLogs[0].logRecords[1]', 'flow not-a-time a b 1'],
    ]);
    expect(host.telemetry.total('dropped', { reason: 'unmapped' })).toBe(1);
  });

  it('answers JSON with partialSuccess in JSON, and dead-letters unmapped records when told to', async () => {
    const { host, url } = await start({ unmapped: 'dead_letter' });
    const reply = await post(url, request([FLOW, 'GET /healthz 200']), JSON_HEADERS);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(JSON.parse(reply.body.toString())).toEqual({
      partialSuccess: { rejectedLogRecords: '1', errorMessage: '1 of 2 log records rejected: 1 matched no mapping rule or format' },
    });
    expect(host.deadLetters).toHaveLength(1);
    expect(host.deadLetters[0]).toMatchObject({ reason: 'unmapped', location: 'http://127.0.0.1#resourceLogs[0].scopeLogs[0].logRecords[1]' });
    expect(JSON.parse(host.deadLetters[0]?.raw ?? '').body).toEqual({ stringValue: 'GET /healthz 200' });
    expect(host.telemetry.total('dropped')).toBe(0);
    const full = await post(url, request([FLOW]), JSON_HEADERS);
    expect(JSON.parse(full.body.toString())).toEqual({});
  });

  it('routes by rules before sniffing: record attribute, resource attribute, body prefix', async () => {
    const { host, url } = await start({
      rules: [
        { match: { attribute: 'log.file.name', prefix: '/var/log/alerts/' }, format: 'test_alert' },
        { match: { resourceAttribute: 'service.name', equals: 'flow-shipper' }, format: 'test_flow' },
      ],
      sniff: false,
    });
    // sniffing is off: only the rules map
    await post(
      url,
      request(['{"alert":"A","time":"2024-06-12T09:00:00Z"}', FLOW], {}, [{ 'log.file.name': '/var/log/alerts/x.log' }, { 'log.file.name': '/tmp/y' }]),
      JSON_HEADERS,
    );
    await post(url, request([FLOW], { 'service.name': 'flow-shipper' }), JSON_HEADERS);
    expect(host.events.map((e) => e.source)).toEqual(['test_alert', 'test_flow']);
    expect(host.telemetry.total('dropped', { reason: 'unmapped' })).toBe(1);
  });

  it('answers 400 with a google.rpc.Status for undecodable bodies, in the request encoding, and dead-letters the body', async () => {
    const { host, url } = await start();
    const pb = await post(url, Buffer.from([0x0a, 0x10, 0x01]), PB_HEADERS);
    expect(pb.status).toBe(400);
    expect(pb.headers['content-type']).toBe('application/x-protobuf');
    expect(pb.body[0]).toBe(0x08); // Status.code
    expect(pb.body[1]).toBe(3); // INVALID_ARGUMENT
    const json = await post(url, '{"resourceLogs": 5}', JSON_HEADERS);
    expect(json.status).toBe(400);
    expect(JSON.parse(json.body.toString())).toEqual({ code: 3, message: 'not an ExportLogsServiceRequest: request.resourceLogs must be an array' });
    const text = await post(url, 'hello', { 'Content-Type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(host.deadLetters.map((d) => d.reason)).toEqual(['invalid_protobuf', 'invalid_request']);
    expect(host.deadLetters[1]?.raw).toBe('{"resourceLogs": 5}');
  });

  it('answers 429 with Retry-After while the pipeline is full and writes no dead letters until the retry is accepted', async () => {
    const { host, url } = await start({ http: { retryAfterSeconds: 3 } });
    host.full = true;
    const busy = await post(url, request([FLOW, 'flow bad']), JSON_HEADERS);
    expect(busy.status).toBe(429);
    expect(busy.headers['retry-after']).toBe('3');
    expect(host.deadLetters).toHaveLength(0);
    host.full = false;
    const retry = await post(url, request([FLOW, 'flow bad']), JSON_HEADERS);
    expect(retry.status).toBe(200);
    expect(host.events).toHaveLength(1);
    expect(host.deadLetters).toHaveLength(1);
  });

  it('answers 503 when configured as the busy status', async () => {
    const { host, url } = await start({ http: { busyStatus: 503 } });
    host.full = true;
    const busy = await post(url, request([FLOW]), JSON_HEADERS);
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('1');
  });

  it('requires the bearer token when set, and serves HTTPS', async () => {
    const { host, url } = await start({
      http: { bearerToken: 'tok', tls: { certFile: join(testdata, 'tls-cert.pem'), keyFile: join(testdata, 'tls-key.pem') } },
    });
    const ca = readFileSync(join(testdata, 'tls-cert.pem'), 'utf8');
    expect(url.startsWith('https://127.0.0.1')).toBe(true);
    expect((await post(url, request([FLOW]), JSON_HEADERS, { ca })).status).toBe(401);
    expect((await post(url, request([FLOW]), { ...JSON_HEADERS, Authorization: 'Bearer tok' }, { ca })).status).toBe(200);
    expect(host.events).toHaveLength(1);
  });

  it('refuses bodies over maxBodyBytes (also after gunzip) with 413', async () => {
    const { host, url } = await start({ http: { maxBodyBytes: 2048 } });
    const big = request(new Array(40).fill(FLOW));
    expect((await post(url, big, JSON_HEADERS)).status).toBe(413);
    expect((await post(url, gzipSync(big), { ...JSON_HEADERS, 'Content-Encoding': 'gzip' })).status).toBe(413);
    expect(host.events).toHaveLength(0);
  });

  it('an empty request is a full success', async () => {
    const { url } = await start();
    const reply = await post(url, '{}', JSON_HEADERS);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body.toString())).toEqual({});
  });
});

describe('otlp receiver config', () => {
  it('defaults to 127.0.0.1:4318 /v1/logs, drop for unmapped records', () => {
    const config = otlpLogs.createDefaultConfig();
    expect(config.http.host).toBe('127.0.0.1');
    expect(config.http.port).toBe(4318);
    expect(config.path).toBe('/v1/logs');
    expect(config.unmapped).toBe('drop');
  });

  it('reports every problem with its path, including rules naming unknown formats', () => {
    const issues = (input: unknown) => {
      try {
        otlpLogs.validate(input, 'receivers[2]');
      } catch (err) {
        return (err as ConfigError).issues.map((i) => i.path).sort();
      }
      return [];
    };
    expect(issues({ formats: [{ name: 'x' }], rules: [{ match: {}, format: 'y' }], unmapped: 'keep' })).toEqual([
      'receivers[2].formats[0]',
      'receivers[2].rules[0].match',
      'receivers[2].unmapped',
    ]);
    expect(issues({ formats: testFormats, rules: [{ match: { prefix: 'x' }, format: 'nope' }] })).toEqual(['receivers[2].rules[0].format']);
    expect(() => otlpLogs.validate({ formats: testFormats, rules: [{ match: { prefix: 'x' }, format: 'test_flow' }] })).not.toThrow(ConfigError);
  });
});
