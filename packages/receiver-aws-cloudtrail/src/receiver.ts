import { type ComponentContext, defineComponent, type Receiver, z } from '@outflow/core';
import { createFileHttpReceiver, fileSourceSchema, httpServerSchema } from '@outflow/io';
import { CLOUDTRAIL_FORMAT, cloudTrailDecoder } from './decoder.js';

/** File names CloudTrail writes that hold no events: digest files (`<account>_CloudTrail-Digest_<region>_...json.gz`). */
export const CLOUDTRAIL_DIGEST_GLOB = '*CloudTrail-Digest*';

/** Default largest decompressed delivery file: busy trails write files of several MiB. */
export const CLOUDTRAIL_MAX_FILE_BYTES = 16 * 1024 * 1024;

/** The shared file-source schema, with digest files excluded and a larger record limit by default. */
const cloudTrailFileSchema = fileSourceSchema.extend({
  /** Basename globs of files to skip. Default skips CloudTrail digest files. */
  exclude: z.array(z.string().min(1)).default([CLOUDTRAIL_DIGEST_GLOB]),
  /** Largest decompressed file ('document') or line ('lines'); larger ones are dead-lettered as `record_too_large`. */
  maxRecordBytes: z.number().int().positive().default(CLOUDTRAIL_MAX_FILE_BYTES),
});

/** Configuration of the `aws_cloudtrail` receiver. */
export const cloudTrailConfigSchema = z
  .object({
    /** Read delivery files from files or directories (an S3-synced `AWSLogs/` tree; recursive by default). */
    file: cloudTrailFileSchema.optional(),
    /** Accept POSTs of any CloudTrail shape (EventBridge API destinations, forwarders). */
    http: httpServerSchema.optional(),
    /** URL path that accepts POSTs. */
    path: z.string().startsWith('/').default('/cloudtrail'),
    /** How files are cut into inputs: `document` (a delivery file is one JSON document) or `lines` (JSON lines, tailed). */
    framing: z.enum(['lines', 'document']).default('document'),
  })
  .strict();

export type CloudTrailConfig = z.output<typeof cloudTrailConfigSchema>;
export type CloudTrailConfigInput = z.input<typeof cloudTrailConfigSchema>;

/** The receiver built by `cloudTrail(...)`. */
export interface CloudTrailReceiver extends Receiver {
  /** The HTTP server's bound address once started (for `http.port: 0`). */
  address(): { port: number; url: string } | undefined;
}

export function createCloudTrailReceiver(ctx: ComponentContext, config: CloudTrailConfig): CloudTrailReceiver {
  return createFileHttpReceiver(ctx, {
    file: config.file,
    http: config.http,
    paths: [config.path],
    format: { name: CLOUDTRAIL_FORMAT, framing: config.framing, decoder: cloudTrailDecoder },
  });
}

/**
 * The `aws_cloudtrail` receiver: CloudTrail records from delivery files
 * (S3-synced folders, `.json` and `.json.gz`) and from HTTP POSTs.
 *
 * ```ts
 * cloudTrail({ file: { paths: ['/var/log/cloudtrail'], follow: true } })
 * cloudTrail({ http: { port: 8088, bearerToken: process.env.TOKEN } })
 * ```
 */
export const cloudTrail = defineComponent({
  type: 'aws_cloudtrail',
  kind: 'receiver',
  stability: 'alpha',
  description: 'AWS CloudTrail records (delivery files, single records, EventBridge envelopes) from files, directories and HTTP',
  schema: cloudTrailConfigSchema,
  check: (config) => (config.file || config.http ? [] : [{ path: '', message: 'configure at least one transport: file or http' }]),
  create: (ctx, config): CloudTrailReceiver => createCloudTrailReceiver(ctx, config),
});
