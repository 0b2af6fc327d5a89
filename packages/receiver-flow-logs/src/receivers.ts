import { type ComponentContext, defineComponent, type Receiver, z } from '@outflow/core';
import { createFileReceiver, fileSourceSchema } from '@outflow/io';
import { AZURE_FORMAT, AzureFlowDecoder } from './azure.js';
import { GCP_FORMAT, GcpFlowDecoder } from './gcp.js';
import { HUBBLE_FORMAT, HubbleDecoder } from './hubble.js';
import { cidrProblem, DEFAULT_INTERNAL_CIDRS } from './ip.js';
import { VPC_FORMAT, VpcFlowDecoder, vpcLayout } from './vpc.js';

const MiB = 1024 * 1024;

const cidr = z.string().superRefine((value, ctx) => {
  const problem = cidrProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `invalid CIDR "${value}": ${problem}` });
});

/** CIDRs of the monitored networks, for direction when a record does not state it. */
const internalCidrs = z.array(cidr).default([...DEFAULT_INTERNAL_CIDRS]);

/** Count skipped (well-formed, not-a-flow) records as `dropped` with their reason. */
function skipCounter(ctx: ComponentContext): (reason: string) => void {
  return (reason) => ctx.metrics.add('dropped', 1, reason);
}

export const vpcFlowLogsSchema = z
  .object({
    /** Files or directories of flow log files as delivered to S3 (plain or .gz), or CloudWatch Logs exports. */
    file: fileSourceSchema,
    internalCidrs,
    /** Field order for files without a header line (CloudWatch Logs of a custom format), e.g. `${version} ${vpc-id} ${srcaddr} ...`. */
    format: z
      .string()
      .superRefine((value, ctx) => {
        if (!vpcLayout(value))
          ctx.addIssue({ code: 'custom', message: 'must list VPC flow log field names separated by spaces, including srcaddr and dstaddr' });
      })
      .optional(),
  })
  .strict();

/** AWS VPC Flow Logs from files: S3 deliveries (header line, plain or gzip) and CloudWatch Logs exports. */
export const vpcFlowLogs = defineComponent({
  type: VPC_FORMAT,
  kind: 'receiver',
  stability: 'alpha',
  description: 'AWS VPC Flow Logs (default v2 and custom formats v3-v8) from files or directories, plain or gzip',
  schema: vpcFlowLogsSchema,
  create: (ctx, config): Receiver =>
    createFileReceiver(ctx, config.file, {
      name: VPC_FORMAT,
      framing: 'lines',
      decoder: new VpcFlowDecoder({
        internalCidrs: config.internalCidrs,
        onSkip: skipCounter(ctx),
        ...(config.format !== undefined ? { format: config.format } : {}),
      }),
    }),
});

export const gcpFlowLogsSchema = z
  .object({
    /** Files or directories of exported LogEntry JSON (Cloud Storage sinks write JSON lines). */
    file: fileSourceSchema,
    internalCidrs,
    /** `lines`: one entry (or a one-line array) per line; `document`: each file is one JSON array or object (`gcloud logging read --format=json`). */
    framing: z.enum(['lines', 'document']).default('lines'),
  })
  .strict();

/** Google Cloud VPC Flow Logs (Cloud Logging LogEntry JSON) from files. */
export const gcpFlowLogs = defineComponent({
  type: GCP_FORMAT,
  kind: 'receiver',
  stability: 'alpha',
  description: 'Google Cloud VPC Flow Logs as Cloud Logging LogEntry JSON lines or arrays, from files or directories',
  schema: gcpFlowLogsSchema,
  create: (ctx, config): Receiver =>
    createFileReceiver(ctx, config.file, {
      name: GCP_FORMAT,
      framing: config.framing,
      decoder: new GcpFlowDecoder({ internalCidrs: config.internalCidrs, onSkip: skipCounter(ctx) }),
    }),
});

export const azureFlowLogsSchema = z
  .object({
    /** Files or directories of flow log blobs (`PT1H.json`). Each file is one document, so `maxRecordBytes` defaults to 64 MiB here. */
    file: fileSourceSchema.extend({
      maxRecordBytes: z
        .number()
        .int()
        .positive()
        .default(64 * MiB),
    }),
  })
  .strict();

/** Azure NSG flow logs (v1, v2) and virtual network flow logs from files. */
export const azureFlowLogs = defineComponent({
  type: AZURE_FORMAT,
  kind: 'receiver',
  stability: 'alpha',
  description: 'Azure NSG flow logs (v1, v2) and virtual network flow logs, {"records":[...]} documents from files or directories',
  schema: azureFlowLogsSchema,
  create: (ctx, config): Receiver =>
    createFileReceiver(ctx, config.file, {
      name: AZURE_FORMAT,
      framing: 'document',
      decoder: new AzureFlowDecoder({ onSkip: skipCounter(ctx) }),
    }),
});

export const hubbleFlowsSchema = z
  .object({
    /** Files or directories of Hubble exporter output (`hubble/events.log`) or `hubble observe -o jsonpb` captures. */
    file: fileSourceSchema,
    internalCidrs,
    /** L7 flows: `skip` (counted as dropped, reason `l7`) or `attributes` (emitted as flows with L7 attributes). */
    l7: z.enum(['skip', 'attributes']).default('skip'),
    /** Most Kubernetes labels copied per endpoint. */
    maxLabels: z.number().int().min(0).max(1024).default(64),
  })
  .strict();

/** Cilium Hubble flows (JSON lines) from files, with the pod identity of both ends. */
export const hubbleFlows = defineComponent({
  type: HUBBLE_FORMAT,
  kind: 'receiver',
  stability: 'alpha',
  description: 'Cilium Hubble flows as JSON lines (Hubble exporter, hubble observe -o jsonpb) from files or directories',
  schema: hubbleFlowsSchema,
  create: (ctx, config): Receiver =>
    createFileReceiver(ctx, config.file, {
      name: HUBBLE_FORMAT,
      framing: 'lines',
      decoder: new HubbleDecoder({ internalCidrs: config.internalCidrs, onSkip: skipCounter(ctx), l7: config.l7, maxLabels: config.maxLabels }),
    }),
});
