import { z } from '@outflow/core';

const MiB = 1024 * 1024;

/** True for loopback hosts: `localhost`, 127.0.0.0/8, `::1` (also `[::1]` and IPv4-mapped `::ffff:127.x.y.z`). */
export function isLoopback(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (h.startsWith('::ffff:')) h = h.slice(7);
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (!m) return false;
  const octets = m.slice(1).map(Number);
  return octets.every((o) => o <= 255) && octets[0] === 127;
}

const positiveInt = () => z.number().int().positive();

/** Configuration of a FileSource: which files to read, how to follow them, where to checkpoint. */
export const fileSourceSchema = z
  .object({
    /** Files or directories. */
    paths: z.array(z.string().min(1)).min(1),
    /** true: keep tailing files and watching directories; false: read everything once, then complete. */
    follow: z.boolean().default(false),
    /** Basename globs (`*` and `?`) a file must match to be read. */
    include: z.array(z.string().min(1)).default(['*']),
    /** Basename globs of files to skip. */
    exclude: z.array(z.string().min(1)).default([]),
    /** Descend into subdirectories of directory paths. */
    recursive: z.boolean().default(true),
    /** Where to start in files first seen while following (files given or found at start are read from the beginning). */
    startAt: z.enum(['beginning', 'end']).default('beginning'),
    /** Persist read offsets to this JSON file every `intervalMs` and on stop. */
    checkpoint: z
      .object({
        path: z.string().min(1),
        intervalMs: positiveInt().default(5000),
      })
      .strict()
      .optional(),
    /** How often followed files and directories are polled for changes. */
    pollIntervalMs: positiveInt().default(1000),
    /** Longest line ('lines') or decompressed file ('document') accepted; longer ones are dead-lettered as `record_too_large`. */
    maxRecordBytes: positiveInt().default(MiB),
    /** Records per batch handed to `onRecords`. */
    batchSize: positiveInt().default(1000),
  })
  .strict();

export type FileSourceConfig = z.output<typeof fileSourceSchema>;
export type FileSourceConfigInput = z.input<typeof fileSourceSchema>;

const tlsSchema = z
  .object({
    /** PEM certificate chain file. */
    certFile: z.string().min(1),
    /** PEM private key file. */
    keyFile: z.string().min(1),
    /** PEM CA bundle that client certificates must chain to. */
    caFile: z.string().min(1).optional(),
    /** Reject clients without a certificate signed by `caFile`. */
    requireClientCert: z.boolean().default(false),
  })
  .strict();

/** Defaults a receiver may override when it embeds the HTTP server schema (e.g. its well-known port). */
export interface HttpServerDefaults {
  host?: string;
  port?: number;
  maxBodyBytes?: number;
}

/**
 * Build the HTTP server schema with receiver-specific defaults. The loopback
 * rule (a non-loopback bind needs `bearerToken` or `bearerTokenFile`) is part
 * of the schema, so it applies wherever the schema is embedded.
 */
export function httpServerSchemaWith(defaults: HttpServerDefaults = {}) {
  return z
    .object({
      host: z
        .string()
        .min(1)
        .default(defaults.host ?? '127.0.0.1'),
      port: z
        .number()
        .int()
        .min(0)
        .max(65535)
        .default(defaults.port ?? 0),
      bearerToken: z.string().min(1).optional(),
      bearerTokenFile: z.string().min(1).optional(),
      maxBodyBytes: positiveInt().default(defaults.maxBodyBytes ?? 10 * MiB),
      tls: tlsSchema.optional(),
      requestTimeoutMs: positiveInt().default(30_000),
      busyStatus: z.union([z.literal(429), z.literal(503)]).default(429),
      retryAfterSeconds: z.number().int().min(0).default(1),
    })
    .strict()
    .superRefine(
      (config, ctx) => {
        const c = config as { host?: unknown; bearerToken?: unknown; bearerTokenFile?: unknown };
        if (typeof c.host !== 'string' || isLoopback(c.host)) return;
        if (c.bearerToken === undefined && c.bearerTokenFile === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['bearerToken'],
            message: `a bearerToken or bearerTokenFile is required when host "${c.host}" is not loopback`,
          });
        }
      },
      { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
    );
}

/** Configuration of an HttpIngestServer. */
export const httpServerSchema = httpServerSchemaWith();

export type HttpServerConfig = z.output<typeof httpServerSchema>;
export type HttpServerConfigInput = z.input<typeof httpServerSchema>;

/** Configuration of a UdpListener. */
export const udpSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(0),
    maxDatagramBytes: z.number().int().min(1).max(65535).default(65535),
    receiveBufferBytes: positiveInt().optional(),
  })
  .strict();

/** Build the UDP schema with a receiver-specific default port (e.g. 2055 for NetFlow). */
export function udpSchemaWith(defaults: { host?: string; port?: number } = {}) {
  return udpSchema.extend({
    host: z
      .string()
      .min(1)
      .default(defaults.host ?? '127.0.0.1'),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(defaults.port ?? 0),
  });
}

export type UdpConfig = z.output<typeof udpSchema>;
export type UdpConfigInput = z.input<typeof udpSchema>;
