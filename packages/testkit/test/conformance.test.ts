import { exportedToChannel, exporterConformance, flowEvent, memoryExporter, memoryReceiver, receiverConformance, sendToChannel } from '../src/index.js';
import { defineConformanceTests } from '../src/vitest.js';

let n = 0;
defineConformanceTests(
  'memory receiver',
  receiverConformance({
    factory: memoryReceiver,
    config: () => ({ channel: `conformance-${++n}` }),
    sendValid: (_env, config) => sendToChannel((config as { channel: string }).channel, [flowEvent()]),
    sendInvalid: (_env, config) => sendToChannel((config as { channel: string }).channel, ['{"kind":"network_flow", "time": oops']),
  }),
);

let m = 0;
defineConformanceTests(
  'memory exporter',
  exporterConformance({
    factory: memoryExporter,
    setup: async () => {
      const channel = `exp-${++m}`;
      return { config: { channel }, received: async () => exportedToChannel(channel).map((a) => a.id) };
    },
  }),
);
