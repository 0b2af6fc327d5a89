import { createPipeline, type Pipeline } from '@outflow/core';
import { t1537 } from '@outflow/detections';
import { otlpLogs } from '@outflow/exporter-otlp';
import { cloudTrail } from '@outflow/receiver-aws-cloudtrail';
import { vpcFlowLogs } from '@outflow/receiver-flow-logs';

export interface FilesToOtlpOptions {
  /** Directory of CloudTrail delivery files (.json / .json.gz, as synced from the trail's S3 bucket). */
  cloudtrailDir: string;
  /** Directory of VPC flow log files (text with a header line, plain or .gz, as delivered to S3). */
  vpcFlowDir: string;
  /** OTLP/HTTP logs endpoint, e.g. an OpenTelemetry Collector: http://collector:4318/v1/logs */
  otlpUrl: string;
  /** Keep watching the directories for new files (a long-running deployment) instead of reading them once. */
  follow?: boolean;
  /** Where file positions are checkpointed, so a restart neither loses nor repeats records. */
  stateDir?: string;
  /** t1537 preset configuration: your accounts, cluster ranges, exceptions. */
  presetConfig?: Parameters<typeof t1537>[0];
  cluster?: string;
}

export function filesToOtlp(o: FilesToOtlpOptions): Pipeline {
  const checkpoint = (name: string) => (o.stateDir ? { checkpoint: { path: `${o.stateDir}/${name}.json` } } : {});
  return createPipeline({
    name: 'files-to-otlp',
    receivers: [
      cloudTrail({ file: { paths: [o.cloudtrailDir], follow: o.follow ?? false, ...checkpoint('cloudtrail') } }),
      vpcFlowLogs({ file: { paths: [o.vpcFlowDir], follow: o.follow ?? false, ...checkpoint('vpc-flow') } }),
    ],
    detections: t1537(o.presetConfig ?? {}),
    exporters: [otlpLogs({ url: o.otlpUrl, resource: { serviceName: 'outflow', ...(o.cluster ? { cluster: o.cluster } : {}) } })],
    // Files from S3 arrive in batches minutes apart: tolerate more disorder than a live stream.
    watermark: { maxOutOfOrdernessMs: 10 * 60_000, idleTimeoutMs: 5 * 60_000 },
  });
}
