/**
 * Two small formats standing in for the receiver packages' formats (the
 * dependency rule forbids importing them here):
 *
 * - `test_flow`: `flow <RFC 3339 time> <src> <dst> <bytes>` → network_flow;
 * - `test_alert`: a JSON object `{"alert": name, "time": RFC 3339, "pod"?: name}` → runtime_alert.
 */
import type { DecodeMeta, DecodeSink, FormatDefinition, NetworkFlowEvent, OutflowEvent, RuntimeAlertEvent } from '@outflow/core';

export const testFlowFormat: FormatDefinition = {
  name: 'test_flow',
  description: 'test flows',
  framing: 'lines',
  sniff: (head) => (head.startsWith('flow ') ? 0.9 : 0),
  decoder: {
    format: 'test_flow',
    decode(input: string, sink: DecodeSink<OutflowEvent>, meta: DecodeMeta) {
      const parts = input.trim().split(' ');
      const time = Date.parse(parts[1] ?? '');
      const bytes = Number(parts[4]);
      if (parts.length !== 5 || parts[0] !== 'flow' || !Number.isFinite(time) || !Number.isFinite(bytes)) {
        sink.error({ reason: 'invalid_flow', message: `expected "flow <time> <src> <dst> <bytes>", got ${parts.length} fields`, raw: input });
        return;
      }
      const event: NetworkFlowEvent = {
        kind: 'network_flow',
        time,
        observedTime: meta.observedTime,
        source: 'test_flow',
        sourceId: `flow@${meta.location}`,
        src: { address: parts[2] as string },
        dst: { address: parts[3] as string },
        direction: 'egress',
        bytes,
        raw: input,
      };
      if (meta.location !== undefined) event.location = meta.location;
      sink.event(event);
    },
  },
};

export const testAlertFormat: FormatDefinition = {
  name: 'test_alert',
  description: 'test alerts',
  framing: 'lines',
  sniff: (head) => (head.startsWith('{"alert"') ? 0.8 : 0),
  decoder: {
    format: 'test_alert',
    decode(input: string, sink: DecodeSink<OutflowEvent>, meta: DecodeMeta) {
      let value: { alert?: unknown; time?: unknown; pod?: unknown };
      try {
        value = JSON.parse(input);
      } catch {
        sink.error({ reason: 'invalid_json', message: 'not JSON', raw: input });
        return;
      }
      const time = typeof value.time === 'string' ? Date.parse(value.time) : Number.NaN;
      if (typeof value.alert !== 'string') {
        sink.error({ reason: 'missing_field', message: 'alert is missing', raw: input });
        return;
      }
      const event: RuntimeAlertEvent = {
        kind: 'runtime_alert',
        time,
        observedTime: meta.observedTime,
        source: 'test_alert',
        engine: 'test',
        rule: value.alert,
        priority: 'Warning',
        output: value.alert,
        tags: [],
        fields: {},
        raw: value,
      };
      if (typeof value.pod === 'string') event.workload = { pod: value.pod };
      if (meta.location !== undefined) event.location = meta.location;
      sink.event(event);
    },
  },
};

export const testFormats = [testFlowFormat, testAlertFormat];
