import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ConfigError, type K8sAuditEvent } from '@outflow/core';
import { freePort, type HttpReply, post as httpPost, receiverConformance, selfSignedCert } from '@outflow/testkit';
import { defineConformanceTests, receiverStarter, tempDirs } from '@outflow/testkit/vitest';
import { beforeAll, describe, expect, it } from 'vitest';
import { type K8sAuditConfigInput, type K8sAuditReceiver, k8sAudit } from '../src/index.js';
import { fixture } from './helpers.js';

const EVENT_LIST = fixture('webhook-eventlist.json');
const LINE = fixture('exec.jsonl').split('\n')[0] as string;

/** A real HTTP(S) POST of JSON to the receiver on 127.0.0.1. */
function post(url: string, body: string | Buffer, headers: Record<string, string> = {}, ca?: Buffer): Promise<HttpReply> {
  return httpPost(url, body, { 'Content-Type': 'application/json', ...headers }, { ca });
}

const tempDir = tempDirs('outflow-k8s-audit-');
const start = receiverStarter<K8sAuditReceiver, K8sAuditConfigInput>(k8sAudit, { path: '/audit' });

defineConformanceTests(
  'k8s_audit receiver conformance (HTTP webhook)',
  receiverConformance({
    factory: k8sAudit,
    defaultConfigRequiresInput: true,
    config: async (env) => ({ http: { port: await env.freePort() } }),
    sendValid: async (_env, config) => {
      const res = await post(`http://127.0.0.1:${(config as { http: { port: number } }).http.port}/audit`, EVENT_LIST);
      expect(res.status).toBe(200);
    },
    sendInvalid: async (_env, config) => {
      await post(`http://127.0.0.1:${(config as { http: { port: number } }).http.port}/audit`, '{"kind":"EventList","items":[{"verb":');
    },
  }),
);

let fileSeq = 0;
defineConformanceTests(
  'k8s_audit receiver conformance (files)',
  receiverConformance({
    factory: k8sAudit,
    defaultConfigRequiresInput: true,
    config: (env) => ({ file: { paths: [env.dir], follow: true, pollIntervalMs: 20 } }),
    sendValid: async (env) => writeFileSync(join(env.dir, `audit-${++fileSeq}.log`), `${LINE}\n`),
    sendInvalid: async (env) => writeFileSync(join(env.dir, `audit-${++fileSeq}.log`), 'not an audit event\n'),
  }),
);

describe('k8s_audit configuration', () => {
  it('requires a transport and reports every problem with its path', () => {
    expect(() => k8sAudit.validate({}, 'receivers[0]')).toThrow(/receivers\[0\]: configure at least one transport/);
    let error: unknown;
    try {
      k8sAudit.validate({ http: { port: 70000, nope: 1 }, stages: ['Done'], framing: 'csv', path: 'audit' }, 'receivers[0]');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['receivers[0].framing', 'receivers[0].http', 'receivers[0].http.port', 'receivers[0].path', 'receivers[0].stages']);
  });

  it('fills defaults: webhook path /audit, lines framing, all stages; the HTTP server refuses a public bind without a token', () => {
    const config = k8sAudit.validate({ http: {} });
    expect(config).toMatchObject({ path: '/audit', framing: 'lines', stages: 'all', http: { host: '127.0.0.1', port: 0, maxBodyBytes: 10 * 1024 * 1024 } });
    expect(() => k8sAudit.validate({ http: { host: '0.0.0.0' } })).toThrow(/bearerToken/);
  });
});

describe('k8s_audit webhook (HTTP on 127.0.0.1)', () => {
  it('accepts the kube-apiserver EventList POST with 200 and emits one event per item', async () => {
    const { host, url } = await start({ http: {} });
    const res = await post(url, EVENT_LIST);
    expect(res.status).toBe(200);
    expect(host.events).toHaveLength(8);
    const e = host.events[0] as K8sAuditEvent;
    expect(e).toMatchObject({ kind: 'k8s_audit', stage: 'RequestReceived', command: ['tar', 'czf', '-', '/var/lib/data'], receiver: 'k8s_audit' });
    expect(e.location).toMatch(/^http:\/\/127\.0\.0\.1/);
    expect(host.batches).toHaveLength(1);
  });

  it('keeps only the configured stages and counts the rest as dropped{stage_filtered}', async () => {
    const { host, url } = await start({ http: {}, stages: ['ResponseComplete', 'ResponseStarted'] });
    expect((await post(url, EVENT_LIST)).status).toBe(200);
    expect(host.events.map((e) => (e as K8sAuditEvent).stage)).not.toContain('RequestReceived');
    expect(host.events).toHaveLength(7);
    expect(host.telemetry.total('dropped', { reason: 'stage_filtered' })).toBe(1);
  });

  it('requires the bearer token when one is set', async () => {
    const { host, url } = await start({ http: { bearerToken: 's3cret' } });
    expect((await post(url, EVENT_LIST)).status).toBe(401);
    expect((await post(url, EVENT_LIST, { Authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await post(url, EVENT_LIST, { Authorization: 'Bearer s3cret' })).status).toBe(200);
    expect(host.events).toHaveLength(8);
  });

  it('refuses bodies over maxBodyBytes with 413 and emits nothing', async () => {
    const { host, url } = await start({ http: { maxBodyBytes: 1024 } });
    expect((await post(url, EVENT_LIST)).status).toBe(413);
    expect(host.events).toHaveLength(0);
  });

  it('answers 429 (or the configured 503) with Retry-After while the pipeline is full, and accepts once it drains', async () => {
    const { host, url } = await start({ http: { retryAfterSeconds: 3 } }, (h) => {
      h.full = true;
    });
    const busy = await post(url, EVENT_LIST);
    expect(busy.status).toBe(429);
    expect(busy.headers['retry-after']).toBe('3');
    expect(host.telemetry.total('refused')).toBe(8);
    host.full = false;
    expect((await post(url, EVENT_LIST)).status).toBe(200);
    expect(host.events).toHaveLength(8);
    const other = await start({ http: { busyStatus: 503 } }, (h) => {
      h.full = true;
    });
    expect((await post(other.url, EVENT_LIST)).status).toBe(503);
  });

  it('accepts gzip bodies, dead-letters the bad items of a partly bad body with 200, and answers 400 to a wholly bad one', async () => {
    const { host, url } = await start({ http: {} });
    expect((await post(url, gzipSync(EVENT_LIST), { 'Content-Encoding': 'gzip' })).status).toBe(200);
    expect(host.events).toHaveLength(8);
    const partly = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [JSON.parse(LINE), { verb: 'get' }] });
    expect((await post(url, partly)).status).toBe(200);
    expect(host.events).toHaveLength(9);
    expect(host.deadLetters).toHaveLength(1);
    expect(host.deadLetters[0]).toMatchObject({ stage: 'decode', reason: 'missing_field' });
    expect(host.deadLetters[0]?.location).toMatch(/^http:\/\/127\.0\.0\.1.*#\/items\/1$/);
    const bad = await post(url, '{"kind":"EventList",');
    expect(bad.status).toBe(400);
    expect(host.deadLetters[1]).toMatchObject({ reason: 'invalid_json', raw: '{"kind":"EventList",' });
    expect(host.telemetry.total('errors')).toBe(2);
  });

  it('answers 404 on other paths and serves a custom path', async () => {
    const { host, receiver } = await start({ http: {}, path: '/k8s/audit' });
    const base = receiver.address()?.url as string;
    expect((await post(`${base}/audit`, EVENT_LIST)).status).toBe(404);
    expect((await post(`${base}/k8s/audit`, EVENT_LIST)).status).toBe(200);
    expect(host.events).toHaveLength(8);
  });

  describe('over TLS', () => {
    let certFile = '';
    let keyFile = '';
    beforeAll(() => {
      const dir = tempDir();
      certFile = join(dir, 'cert.pem');
      keyFile = join(dir, 'key.pem');
      selfSignedCert(certFile, keyFile);
    });

    it('serves the webhook over HTTPS', async () => {
      const { host, url } = await start({ http: { tls: { certFile, keyFile } } });
      expect(url.startsWith('https://')).toBe(true);
      expect((await post(url, EVENT_LIST, {}, readFileSync(certFile))).status).toBe(200);
      expect(host.events).toHaveLength(8);
      await expect(post(url, EVENT_LIST)).rejects.toThrow();
    });
  });
});

describe('k8s_audit files', () => {
  it('reads a JSON-lines audit log once, with path:line locations, dead-letters bad lines, then completes', async () => {
    const dir = tempDir();
    const path = join(dir, 'audit.log');
    writeFileSync(path, fixture('malformed.jsonl'));
    const { host } = await start({ file: { paths: [path] } });
    await host.waitForComplete();
    expect(host.events.map((e) => e.location)).toEqual([`${path}:1`, `${path}:13`, `${path}:17`]);
    expect(host.deadLetters).toHaveLength(17);
    expect(host.deadLetters[0]).toMatchObject({ reason: 'invalid_json', location: `${path}:2`, raw: fixture('malformed.jsonl').split('\n')[1] });
    expect(host.deadLetters.map((d) => d.location)).toContain(`${path}:13#/items/1`);
  });

  it('reads whole-file documents (EventList, Azure export) with document framing, and gzip files', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'list.json'), EVENT_LIST);
    writeFileSync(join(dir, 'aks.json.gz'), gzipSync(fixture('aks-diagnostics.json')));
    const { host } = await start({ file: { paths: [dir] }, framing: 'document' });
    await host.waitForComplete();
    expect(host.events).toHaveLength(8 + 12);
    expect(host.deadLetters.map((d) => d.reason)).toEqual(['unsupported_category']);
    expect(host.events.some((e) => e.workload?.cluster === 'AKS-PROD')).toBe(true);
  });

  it('tails a growing file and resumes from its checkpoint after a restart without re-reading', async () => {
    const dir = tempDir();
    const path = join(dir, 'audit.log');
    const checkpoint = { path: join(dir, 'checkpoint.json'), intervalMs: 50 };
    const lines = (JSON.parse(EVENT_LIST) as { items: unknown[] }).items.map((i) => JSON.stringify(i));
    writeFileSync(path, `${lines.slice(0, 3).join('\n')}\n`);
    const first = await start({ file: { paths: [path], follow: true, pollIntervalMs: 20, checkpoint } });
    await first.host.waitForEvents(3);
    appendFileSync(path, `${lines.slice(3, 5).join('\n')}\n`);
    await first.host.waitForEvents(5);
    await first.receiver.shutdown();
    appendFileSync(path, `${lines.slice(5, 8).join('\n')}\n`);
    const second = await start({ file: { paths: [path], follow: true, pollIntervalMs: 20, checkpoint } });
    await second.host.waitForEvents(3);
    await new Promise((r) => setTimeout(r, 150));
    expect(second.host.events.map((e) => e.location)).toEqual([`${path}:6`, `${path}:7`, `${path}:8`]);
  });

  it('runs the file and webhook transports side by side', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.log'), `${LINE}\n`);
    const { host, url } = await start({ file: { paths: [dir], follow: true, pollIntervalMs: 20 }, http: { port: await freePort() } });
    await host.waitForEvents(1);
    expect((await post(url, EVENT_LIST)).status).toBe(200);
    await host.waitForEvents(9);
    expect(host.completed).toBe(false);
  });
});
