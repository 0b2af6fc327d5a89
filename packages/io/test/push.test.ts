import type { Decoder, DecodeSink, OutflowEvent } from '@outflow/core';
import { createTestHost } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { createPushReceiver } from '../src/index.js';

const decoder: Decoder<string> = {
  format: 'test',
  decode(input: string, sink: DecodeSink) {
    for (const line of input.split('\n')) {
      if (!line) continue;
      try {
        const r = JSON.parse(line) as { time: number };
        sink.event({ kind: 'file_access', time: r.time, observedTime: 0, source: 'test', path: '/x', operation: 'open' } as OutflowEvent);
      } catch {
        sink.error({ reason: 'invalid_json', message: 'bad', raw: line });
      }
    }
  },
};

describe('push receiver', () => {
  it('decodes bodies handed to it, dead-letters bad records and reports a full pipeline', async () => {
    const r = createPushReceiver({ busyStatus: 503, retryAfterSeconds: 2 });
    expect(r.handle({ body: '{"time":1}' }, decoder).status).toBe(503);
    const host = createTestHost();
    await r.start(host);
    expect(r.handle({ body: '{"time":1}\n{oops\n{"time":2}', remoteAddress: '10.0.0.1' }, decoder).status).toBe(200);
    expect(host.events.map((e) => e.time)).toEqual([1, 2]);
    expect(host.deadLetters.map((d) => d.reason)).toEqual(['invalid_json']);
    expect(r.handle({ body: '{oops' }, decoder).status).toBe(400);
    host.full = true;
    const busy = r.handle({ body: '{"time":3}' }, decoder);
    expect(busy.status).toBe(503);
    expect(busy.headers?.['Retry-After']).toBe('2');
    await r.shutdown();
    expect(r.handle({ body: '{"time":4}' }, decoder).status).toBe(503);
  });
});
