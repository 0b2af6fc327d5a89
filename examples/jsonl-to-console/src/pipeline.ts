import { createPipeline, defineComponent, type Exporter, isPrivateOrLocal, outflowJsonFormat, type Pipeline, rule, z } from '@outflow/core';
import { consoleExporter } from '@outflow/exporter-console';
import { createFileReceiver, fileSourceSchema } from '@outflow/io';

/** A receiver for files of Outflow JSON lines, built from the shared file transport and the core's native format. */
export const outflowJsonFile = defineComponent({
  type: 'outflow_json_file',
  kind: 'receiver',
  stability: 'alpha',
  description: 'Reads Outflow JSON-lines files',
  schema: z.object({ file: fileSourceSchema }).strict(),
  create: (ctx, config) => createFileReceiver(ctx, config.file, outflowJsonFormat),
});

/** One simple rule: more than `thresholdBytes` sent to an address outside private ranges in one flow. */
export const largeExternalTransfer = (thresholdBytes: number) =>
  rule({
    id: 'large_external_transfer',
    title: 'Large transfer to an external address',
    severity: 'high',
    kinds: ['network_flow'],
    match: (flow) => {
      const bytes = flow.bytes ?? 0;
      if (bytes < thresholdBytes || isPrivateOrLocal(flow.dst.address)) return undefined;
      return {
        dedupKey: `${flow.workload?.workloadName ?? flow.src.address}->${flow.dst.address}`,
        explanation: {
          summary: `${(bytes / 1e9).toFixed(1)} GB sent to external address ${flow.dst.address} in one flow`,
          observed: `${bytes} bytes to ${flow.dst.address}:${flow.dst.port ?? '?'}`,
          expected: `under ${thresholdBytes} bytes per flow to external addresses`,
        },
        attributes: { 'destination.address': flow.dst.address, 'source.address': flow.src.address },
        response: {
          investigate: ['Identify the process that opened the connection (runtime events for the pod)', 'Check what data the workload can read'],
          contain: ['Isolate the pod with a deny-all egress NetworkPolicy'],
        },
      };
    },
  });

/** The example pipeline: a JSON-lines file → one rule → console. */
export function examplePipeline(path: string, options: { thresholdBytes?: number; exporter?: Exporter; stream?: NodeJS.WritableStream } = {}): Pipeline {
  return createPipeline({
    receivers: [outflowJsonFile({ file: { paths: [path] } })],
    detections: [largeExternalTransfer(options.thresholdBytes ?? 1_000_000_000)],
    exporters: [options.exporter ?? consoleExporter(options.stream ? { stream: options.stream } : {})],
  });
}
