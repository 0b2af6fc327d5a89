import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ConfigError, defineComponent, Telemetry, z } from '@outflow/core';
import { selfSignedCert } from '@outflow/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  busyResponse,
  type HttpHandler,
  HttpIngestServer,
  type HttpServerConfigInput,
  httpServerSchema,
  httpServerSchemaWith,
  type IngestRequest,
  isLoopback,
} from '../src/index.js';
import { sleep, tempDir, waitUntil } from './helpers.js';
import { send } from './http-client.js';

const servers: HttpIngestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

function serve(config: HttpServerConfigInput, routes: Record<string, HttpHandler>) {
  const telemetry = new Telemetry({ pipeline: 'test' });
  const server = new HttpIngestServer(httpServerSchema.parse(config), routes, { metrics: telemetry.forComponent('http'), name: 'test' });
  servers.push(server);
  return { server, telemetry, refused: (reason: string) => telemetry.total('refused', { reason }) };
}

const echo: HttpHandler = (req) => ({ status: 200, body: `${req.method} ${req.path} ${req.body.length}:${req.body.toString('utf8')}` });

describe('HttpIngestServer', () => {
  it('binds 127.0.0.1 on an ephemeral port by default and serves POST on its routes', async () => {
    const { server, telemetry } = serve({}, { '/ingest': echo });
    const { port, url } = await server.start();
    expect(port).toBeGreaterThan(0);
    expect(url).toBe(`http://127.0.0.1:${port}`);
    const res = await send(url, { path: '/ingest?x=1', body: 'hello' });
    expect(res).toMatchObject({ status: 200, body: 'POST /ingest 5:hello' });
    expect(telemetry.total('received')).toBe(1);
  });

  it('checks the bearer token: 401 with WWW-Authenticate when missing or wrong, 200 when right', async () => {
    const { server, refused, telemetry } = serve({ bearerToken: 's3cret' }, { '/ingest': echo });
    const { url } = await server.start();
    const missing = await send(url, { path: '/ingest', body: 'x' });
    const wrong = await send(url, { path: '/ingest', body: 'x', headers: { Authorization: 'Bearer s3cret-not' } });
    const scheme = await send(url, { path: '/ingest', body: 'x', headers: { Authorization: 'Basic s3cret' } });
    const right = await send(url, { path: '/ingest', body: 'x', headers: { Authorization: 'Bearer s3cret' } });
    for (const r of [missing, wrong, scheme]) {
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    expect(right.status).toBe(200);
    expect(refused('unauthorized')).toBe(3);
    expect(telemetry.total('received')).toBe(1);
  });

  it('reads the token from bearerTokenFile at start (trailing newline ignored)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, 'token');
      writeFileSync(file, 'from-file\n');
      const { server } = serve({ bearerTokenFile: file }, { '/ingest': echo });
      const { url } = await server.start();
      expect((await send(url, { path: '/ingest', body: 'x', headers: { Authorization: 'Bearer from-file' } })).status).toBe(200);
      expect((await send(url, { path: '/ingest', body: 'x', headers: { Authorization: 'Bearer other' } })).status).toBe(401);
    } finally {
      cleanup();
    }
  });

  it('a missing token file fails start', async () => {
    const { server } = serve({ bearerTokenFile: '/nonexistent/token' }, { '/ingest': echo });
    await expect(server.start()).rejects.toThrow(/ENOENT/);
  });

  it('answers 405 with Allow: POST for other methods and 404 for unknown paths', async () => {
    const { server, refused } = serve({}, { '/ingest': echo });
    const { url } = await server.start();
    const get = await send(url, { method: 'GET', path: '/ingest' });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    const put = await send(url, { method: 'PUT', path: '/ingest', body: 'x' });
    expect(put.status).toBe(405);
    expect((await send(url, { path: '/other', body: 'x' })).status).toBe(404);
    expect((await send(url, { path: '/ingest/', body: 'x' })).status).toBe(404);
    expect(refused('bad_method')).toBe(2);
    expect(refused('not_found')).toBe(2);
  });

  it('refuses bodies over maxBodyBytes with 413: by Content-Length, while streaming, and after gunzip', async () => {
    const seen: number[] = [];
    const { server, refused } = serve(
      { maxBodyBytes: 1000 },
      {
        '/ingest': (req) => {
          seen.push(req.body.length);
          return { status: 200 };
        },
      },
    );
    const { url } = await server.start();
    expect((await send(url, { path: '/ingest', body: 'a'.repeat(1001) })).status).toBe(413);
    const chunked = await send(url, { path: '/ingest', chunks: [Buffer.alloc(600, 'a'), Buffer.alloc(600, 'b')] });
    expect(chunked.status).toBe(413);
    const bomb = gzipSync(Buffer.alloc(100_000, 'z'));
    expect(bomb.length).toBeLessThan(1000);
    const inflated = await send(url, { path: '/ingest', body: bomb, headers: { 'Content-Encoding': 'gzip' } });
    expect(inflated.status).toBe(413);
    expect((await send(url, { path: '/ingest', body: 'a'.repeat(1000) })).status).toBe(200);
    expect(seen).toEqual([1000]);
    expect(refused('too_large')).toBe(3);
  });

  it('gunzips Content-Encoding: gzip bodies; a corrupt gzip body is 400; unknown encodings 415', async () => {
    const { server } = serve({}, { '/ingest': echo });
    const { url } = await server.start();
    const ok = await send(url, { path: '/ingest', body: gzipSync('{"a":1}'), headers: { 'Content-Encoding': 'gzip' } });
    expect(ok).toMatchObject({ status: 200, body: 'POST /ingest 7:{"a":1}' });
    const bad = await send(url, { path: '/ingest', body: Buffer.from([0x1f, 0x8b, 1, 2, 3]), headers: { 'Content-Encoding': 'gzip' } });
    expect(bad.status).toBe(400);
    const br = await send(url, { path: '/ingest', body: 'x', headers: { 'Content-Encoding': 'br' } });
    expect(br.status).toBe(415);
  });

  it('busyResponse gives the configured status and Retry-After, counted as refused{busy}', async () => {
    for (const [busyStatus, retryAfterSeconds] of [
      [429, 1],
      [503, 7],
    ] as const) {
      const config = httpServerSchema.parse({ busyStatus, retryAfterSeconds });
      expect(busyResponse(config)).toEqual({ status: busyStatus, headers: { 'Retry-After': String(retryAfterSeconds) } });
      const { server, refused } = serve({ busyStatus, retryAfterSeconds }, { '/ingest': () => busyResponse(config) });
      const { url } = await server.start();
      const res = await send(url, { path: '/ingest', body: 'x' });
      expect(res.status).toBe(busyStatus);
      expect(res.headers['retry-after']).toBe(String(retryAfterSeconds));
      expect(refused('busy')).toBe(1);
    }
  });

  it('a handler that throws gives 500, is counted, and the server keeps serving', async () => {
    let calls = 0;
    const { server, telemetry } = serve(
      {},
      {
        '/ingest': (req: IngestRequest) => {
          calls++;
          if (req.body.toString() === 'boom') throw new Error('handler failed');
          return { status: 202 };
        },
      },
    );
    const { url } = await server.start();
    expect((await send(url, { path: '/ingest', body: 'boom' })).status).toBe(500);
    expect((await send(url, { path: '/ingest', body: 'fine' })).status).toBe(202);
    expect(calls).toBe(2);
    expect(telemetry.total('errors', { reason: 'handler_exception' })).toBe(1);
  });

  it('answers 408 when the body does not arrive within requestTimeoutMs', async () => {
    const { server, refused } = serve({ requestTimeoutMs: 150 }, { '/ingest': echo });
    const { port } = await server.start();
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/ingest', headers: { 'Content-Length': 100 } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('only ten..');
    });
    expect(status).toBe(408);
    expect(refused('timeout')).toBe(1);
  });

  it('stop() is idempotent and safe before start; it closes idle keep-alive sockets and waits for in-flight handlers', async () => {
    const idle = new HttpIngestServer(httpServerSchema.parse({}), {});
    await idle.stop();
    await idle.stop();

    const { server } = serve(
      {},
      {
        '/slow': async () => {
          await sleep(150);
          return { status: 200, body: 'done' };
        },
        '/fast': echo,
      },
    );
    const { url } = await server.start();
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true });
    expect((await send(url, { path: '/fast', body: 'x', agent })).status).toBe(200);
    const slow = send(url, { path: '/slow', body: 'x' });
    await sleep(30);
    expect(Object.values(agent.freeSockets).flat()).toHaveLength(1); // an idle keep-alive connection is open
    await Promise.all([server.stop(), server.stop()]);
    await waitUntil(() => Object.values(agent.freeSockets).flat().length === 0, 2_000, 'the idle socket to be closed');
    expect(await slow).toMatchObject({ status: 200, body: 'done' });
    await expect(send(url, { path: '/fast', body: 'x' })).rejects.toThrow();
    agent.destroy();
  });
});

describe('HttpIngestServer over TLS', () => {
  let dir: string;
  let cleanup: () => void;
  let files: { cert: string; key: string; clientCert: string; clientKey: string };
  beforeAll(() => {
    ({ dir, cleanup } = tempDir());
    files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), clientCert: join(dir, 'client.pem'), clientKey: join(dir, 'client-key.pem') };
    selfSignedCert(files.cert, files.key, 'localhost');
    selfSignedCert(files.clientCert, files.clientKey, 'outflow-test-client');
  });
  afterAll(() => cleanup());

  it('serves HTTPS with the given key and certificate', async () => {
    const { server } = serve({ tls: { certFile: files.cert, keyFile: files.key } }, { '/ingest': echo });
    const { url } = await server.start();
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await send(url, { path: '/ingest', body: 'tls', ca: readFileSync(files.cert) });
    expect(res).toMatchObject({ status: 200, body: 'POST /ingest 3:tls' });
    // An untrusting client fails the handshake.
    await expect(send(url, { path: '/ingest', body: 'x' })).rejects.toThrow(/self.signed|certificate/i);
  });

  it('requireClientCert: clients without a certificate signed by caFile are rejected', async () => {
    const { server } = serve(
      { tls: { certFile: files.cert, keyFile: files.key, caFile: files.clientCert, requireClientCert: true } },
      { '/ingest': (req) => ({ status: 200, body: req.body }) },
    );
    const { url } = await server.start();
    const ca = readFileSync(files.cert);
    await expect(send(url, { path: '/ingest', body: 'x', ca })).rejects.toThrow();
    // A certificate the server does not trust (the server's own) is rejected too.
    await expect(send(url, { path: '/ingest', body: 'x', ca, cert: readFileSync(files.cert), key: readFileSync(files.key) })).rejects.toThrow();
    const res = await send(url, { path: '/ingest', body: 'mtls', ca, cert: readFileSync(files.clientCert), key: readFileSync(files.clientKey) });
    expect(res).toMatchObject({ status: 200, body: 'mtls' });
  });
});

describe('httpServerSchema', () => {
  it('fills the defaults', () => {
    expect(httpServerSchema.parse({})).toEqual({
      host: '127.0.0.1',
      port: 0,
      maxBodyBytes: 10 * 1024 * 1024,
      requestTimeoutMs: 30_000,
      busyStatus: 429,
      retryAfterSeconds: 1,
    });
    expect(httpServerSchemaWith({ port: 8443 }).parse({}).port).toBe(8443);
  });

  it('requires a token for a non-loopback bind, at <prefix>.bearerToken wherever the schema is embedded', () => {
    const receiver = defineComponent({
      type: 'test_http',
      kind: 'receiver',
      stability: 'development',
      description: 'test',
      schema: z.object({ http: httpServerSchema.prefault({}) }).strict(),
      create: () => ({}),
    });
    let error: unknown;
    try {
      receiver.validate({ http: { host: '0.0.0.0', port: 70000 } }, 'receivers[0]');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path).sort()).toEqual(['receivers[0].http.bearerToken', 'receivers[0].http.port']);
    expect(() => receiver.validate({ http: { host: '0.0.0.0', bearerToken: 't' } })).not.toThrow();
    expect(() => receiver.validate({ http: { host: '10.0.0.1', bearerTokenFile: '/run/token' } })).not.toThrow();
    for (const host of ['127.0.0.1', '127.9.8.7', 'localhost', '::1', '[::1]']) expect(() => receiver.validate({ http: { host } })).not.toThrow();
    const bad = httpServerSchema.safeParse({ host: '::', busyStatus: 500, tls: { certFile: 'c' }, nope: 1 });
    expect(bad.error?.issues.map((i) => i.path.join('.') || '(root)').sort()).toEqual(['(root)', 'bearerToken', 'busyStatus', 'tls.keyFile']);
  });

  it('isLoopback', () => {
    expect(['127.0.0.1', '127.255.255.254', 'localhost', 'LOCALHOST', '::1', '[::1]', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', '127.0.0.1.evil.com', '1127.0.0.1', '127.0.0.256'].some(isLoopback)).toBe(false);
  });
});
