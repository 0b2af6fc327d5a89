import { describe, expect, it } from 'vitest';
import { decodeAll, outflowJsonFormat } from '../src/index.js';

describe('outflow_json format', () => {
  it('decodes events, defaults missing fields, and reports bad lines with reasons', () => {
    const d = outflowJsonFormat.decoder;
    const ok = decodeAll(
      d,
      '{"kind":"network_flow","time":"2024-01-01T00:00:00Z","src":{"address":"10.0.0.1"},"dst":{"address":"203.0.113.5","port":443},"bytes":9}',
      {
        observedTime: 5,
        location: 'f.jsonl',
        line: 3,
      },
    );
    expect(ok.errors).toEqual([]);
    expect(ok.events[0]).toMatchObject({
      kind: 'network_flow',
      time: Date.UTC(2024, 0, 1),
      observedTime: 5,
      direction: 'unknown',
      source: 'outflow_json',
      location: 'f.jsonl:3',
      bytes: 9,
    });
    expect(ok.events[0]?.sourceId).toMatch(/^[0-9a-f]{24}$/);
    const bad = ['{not json', '[1]', '{"kind":"nope","time":1}', '{"kind":"file_access"}', '{"kind":"file_access","time":1}'].map(
      (l) => decodeAll(d, l).errors[0]?.reason,
    );
    expect(bad).toEqual(['invalid_json', 'invalid_event', 'invalid_event', 'invalid_time', 'missing_field']);
  });

  it('recognises its own lines and nothing else', () => {
    expect(outflowJsonFormat.sniff?.('{"kind":"k8s_audit","time":1,"verb":"get"}\n')).toBeGreaterThan(0.9);
    expect(outflowJsonFormat.sniff?.('{"Records":[]}')).toBe(0);
    expect(outflowJsonFormat.sniff?.('2 123456789012 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 0 1 ACCEPT OK')).toBe(0);
  });
});
