import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ConfigError, type RuntimeAlertEvent } from '@outflow/core';
import { freePort, post, receiverConformance } from '@outflow/testkit';
import { defineConformanceTests, receiverStarter } from '@outflow/testkit/vitest';
import { describe, expect, it } from 'vitest';
import { type FalcoReceiver, falco } from '../src/index.js';

const testdata = join(import.meta.dirname, '..', 'testdata');
const fixture = readFileSync(join(testdata, 'alerts.jsonl'), 'utf8').split('\n');
const ALERT = fixture[0] as string;
const ALERT2 = fixture[1] as string;

defineConformanceTests(
  'falco receiver over HTTP',
  receiverConformance({
    factory: falco,
    defaultConfigRequiresInput: true,
    config: async (env) => ({ http: { port: await env.freePort() } }),
    sendValid: async (_env, config) => {
      const reply = await post(`http://127.0.0.1:${(config as { http: { port: number } }).http.port}/`, ALERT, { 'Content-Type': 'application/json' });
      expect(reply.status).toBe(200);
    },
    sendInvalid: async (_env, config) => {
      const reply = await post(`http://127.0.0.1:${(config as { http: { port: number } }).http.port}/`, '{"rule": "truncated', {
        'Content-Type': 'application/json',
      });
      expect(reply.status).toBe(400);
    },
  }),
);

defineConformanceTests(
  'falco receiver over files',
  receiverConformance({
    factory: falco,
    defaultConfigRequiresInput: true,
    config: (env) => ({ file: { paths: [env.dir], follow: true, pollIntervalMs: 20 } }),
    sendValid: async (env) => appendFileSync(join(env.dir, 'events.json'), `${ALERT}\n`),
    sendInvalid: async (env) => appendFileSync(join(env.dir, 'events.json'), 'not json\n'),
  }),
);

describe('falco receiver transports', () => {
  const start = receiverStarter<FalcoReceiver>(falco);

  it('accepts one alert, an array and JSON lines on / and /falco', async () => {
    const { host, url } = await start({ http: { port: await freePort() } });
    expect((await post(`${url}/`, ALERT, { 'Content-Type': 'application/json' })).status).toBe(200);
    expect((await post(`${url}/falco`, `[${ALERT},${ALERT2}]`, { 'Content-Type': 'application/json' })).status).toBe(200);
    expect((await post(`${url}/falco`, `${ALERT}\n${ALERT2}\n`, { 'Content-Type': 'application/x-ndjson' })).status).toBe(200);
    expect((await post(`${url}/other`, ALERT)).status).toBe(404);
    expect(host.events.map((e) => (e as RuntimeAlertEvent).rule)).toEqual([
      'Terminal shell in container',
      'Terminal shell in container',
      'Unexpected outbound connection destination',
      'Terminal shell in container',
      'Unexpected outbound connection destination',
    ]);
    expect(host.events[0]?.location).toMatch(/^http:\/\/127\.0\.0\.1$/);
    expect(host.events[2]?.location).toMatch(/^http:\/\/127\.0\.0\.1#\[1\]$/);
    expect(host.events[4]?.location).toMatch(/^http:\/\/127\.0\.0\.1#line 2$/);
  });

  it('accepts the good alerts of a partly bad body and dead-letters the bad ones; an all-bad body is 400', async () => {
    const { host, url } = await start({ http: { port: await freePort() } });
    const partly = await post(`${url}/`, `${ALERT}\nnot json\n${fixture[8]}\n`);
    expect(partly.status).toBe(200);
    expect(host.events).toHaveLength(1);
    expect(host.deadLetters.map((d) => [d.reason, d.location])).toEqual([
      ['invalid_json', 'http://127.0.0.1#line 2'],
      ['missing_field', 'http://127.0.0.1#line 3'],
    ]);
    expect(host.deadLetters[0]?.raw).toBe('not json');
    const bad = await post(`${url}/`, '[1, 2]');
    expect(bad.status).toBe(400);
    expect(host.telemetry.total('errors', { reason: 'invalid_record' })).toBe(2);
  });

  it('gunzips Content-Encoding: gzip bodies', async () => {
    const { host, url } = await start({ http: { port: await freePort() } });
    const reply = await post(`${url}/`, gzipSync(Buffer.from(ALERT)), { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
    expect(reply.status).toBe(200);
    expect(host.events).toHaveLength(1);
  });

  it('requires the bearer token when one is set', async () => {
    const { host, url } = await start({ http: { port: await freePort(), bearerToken: 's3cret' } });
    expect((await post(`${url}/`, ALERT)).status).toBe(401);
    expect((await post(`${url}/`, ALERT, { Authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await post(`${url}/`, ALERT, { Authorization: 'Bearer s3cret' })).status).toBe(200);
    expect(host.events).toHaveLength(1);
  });

  it('refuses bodies over maxBodyBytes with 413', async () => {
    const { host, url } = await start({ http: { port: await freePort(), maxBodyBytes: 1024 } });
    expect((await post(`${url}/`, `${ALERT}\n`.repeat(5))).status).toBe(413);
    expect(host.events).toHaveLength(0);
  });

  it('answers 429 with Retry-After while the pipeline is full (503 when configured), and accepts the retry', async () => {
    const { host, url } = await start({ http: { port: await freePort(), retryAfterSeconds: 7 } });
    host.full = true;
    const busy = await post(`${url}/`, ALERT);
    expect(busy.status).toBe(429);
    expect(busy.headers['retry-after']).toBe('7');
    expect(host.telemetry.total('refused')).toBe(1);
    host.full = false;
    expect((await post(`${url}/`, ALERT)).status).toBe(200);
    expect(host.events).toHaveLength(1);

    const other = await start({ http: { port: await freePort(), busyStatus: 503 } });
    other.host.full = true;
    expect((await post(`${other.url}/`, ALERT)).status).toBe(503);
  });

  it('serves HTTPS with the configured certificate', async () => {
    const { host, url } = await start({
      http: { port: await freePort(), tls: { certFile: join(testdata, 'tls-cert.pem'), keyFile: join(testdata, 'tls-key.pem') } },
    });
    expect(url.startsWith('https://')).toBe(true);
    const reply = await post(`${url}/`, ALERT, {}, { ca: readFileSync(join(testdata, 'tls-cert.pem'), 'utf8') });
    expect(reply.status).toBe(200);
    expect(host.events).toHaveLength(1);
  });

  it('reads a file once and completes; with HTTP also configured it does not complete', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'falco-file-'));
    const path = join(dir, 'events.json');
    writeFileSync(path, fixture.join('\n'));
    const once = await start({ file: { paths: [path] } });
    await once.host.waitForComplete();
    expect(once.host.events).toHaveLength(6);
    expect(once.host.deadLetters.map((d) => d.reason)).toEqual([
      'invalid_json',
      'missing_field',
      'invalid_time',
      'invalid_field',
      'invalid_record',
      'invalid_field',
      'missing_field',
    ]);
    expect(once.host.deadLetters[0]?.location).toBe(`${path}:8`);
    expect(once.host.events[1]?.location).toBe(`${path}:2`);

    const both = await start({ file: { paths: [path] }, http: { port: await freePort() } });
    await both.host.waitForEvents(6);
    await new Promise((r) => setTimeout(r, 100));
    expect(both.host.completed).toBe(false);
  });

  it('reports every config problem with its path', () => {
    let error: unknown;
    try {
      falco.validate({ http: { port: 'x', host: '0.0.0.0' }, paths: ['no-slash'], bogus: 1 }, 'receivers[0]');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['receivers[0]', 'receivers[0].http.bearerToken', 'receivers[0].http.port', 'receivers[0].paths[0]']);
    expect(() => falco.validate({})).toThrow(/at least one transport/);
  });
});
