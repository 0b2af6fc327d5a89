import { createPipeline, type Exporter, type Pipeline } from '@outflow/core';
import { t1537 } from '@outflow/detections';
import { consoleExporter } from '@outflow/exporter-console';
import { cloudTrail } from '@outflow/receiver-aws-cloudtrail';
import { falco } from '@outflow/receiver-falco';
import { vpcFlowLogs } from '@outflow/receiver-flow-logs';
import { k8sAudit } from '@outflow/receiver-k8s-audit';
import { tetragon } from '@outflow/receiver-tetragon';
import type { ScenarioFiles } from '@outflow/testkit';

/**
 * The demo as a pipeline you could deploy: one receiver per source (here reading the generated files once;
 * in production `follow: true` and a checkpoint path, or the HTTP webhooks), the t1537 preset configured for
 * the organisation, and the console. Each source is its own receiver with its own watermark, so sources that
 * deliver at different speeds (as they do in production) still line up in event time.
 */
export function demoPipeline(files: ScenarioFiles, presetConfig: Parameters<typeof t1537>[0], exporters?: Exporter[]): Pipeline {
  return createPipeline({
    name: 'demo',
    receivers: [
      k8sAudit({ file: { paths: [files.k8s_audit] } }),
      cloudTrail({ file: { paths: [files.aws_cloudtrail] } }),
      vpcFlowLogs({ file: { paths: [files.aws_vpc_flow] } }),
      falco({ file: { paths: [files.falco] } }),
      tetragon({ file: { paths: [files.tetragon] } }),
    ],
    detections: t1537(presetConfig),
    exporters: exporters ?? [consoleExporter()],
    // Sources read from files run ahead of each other; allow them a generous disorder.
    watermark: { maxOutOfOrdernessMs: 10 * 60_000, idleTimeoutMs: 60_000 },
  });
}
