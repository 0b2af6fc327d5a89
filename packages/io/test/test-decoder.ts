import type { DecodeMeta, Decoder, DecodeSink, NetworkFlowEvent } from '@outflow/core';
import { metaLocation } from '@outflow/core';

/**
 * A tiny decoder for the tests: each non-empty line is a JSON object
 * `{"time": <epoch ms>, "dst": "<address>"}` and becomes a network_flow event.
 * Invalid JSON and missing fields go to `sink.error`.
 */
export const testFlowDecoder: Decoder<string> = {
  format: 'test_flow',
  decode(input: string, sink: DecodeSink, meta: DecodeMeta) {
    const lines = input.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = (lines[i] as string).trim();
      if (line.length === 0) continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (err) {
        sink.error({ reason: 'invalid_json', message: (err as Error).message, raw: line, ...(lines.length > 1 ? { location: `line ${i + 1}` } : {}) });
        continue;
      }
      const record = value as { time?: unknown; dst?: unknown };
      if (typeof record.time !== 'number' || typeof record.dst !== 'string') {
        sink.error({ reason: 'missing_field', message: 'time (number) and dst (string) are required', raw: line });
        continue;
      }
      const event: NetworkFlowEvent = {
        kind: 'network_flow',
        time: record.time,
        observedTime: meta.observedTime,
        source: 'test_flow',
        src: { address: '10.0.0.1' },
        dst: { address: record.dst },
        direction: 'egress',
        raw: record,
        ...(meta.receiver !== undefined ? { receiver: meta.receiver } : {}),
      };
      const location = metaLocation(meta);
      if (location !== undefined) event.location = location;
      if (meta.firstLine !== undefined) event.attributes = { 'test.first_line': meta.firstLine };
      sink.event(event);
    }
  },
};

export const flowLine = (time: number, dst: string) => JSON.stringify({ time, dst });
