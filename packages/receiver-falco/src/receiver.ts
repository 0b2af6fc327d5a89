import { type ComponentContext, defineComponent, type Receiver, type ReceiverHost, z } from '@outflow/core';
import {
  combineReceivers,
  createFileReceiver,
  createHttpReceiver,
  decodeHttpBody,
  fileSourceSchema,
  type HttpReceiver,
  type HttpRoute,
  httpServerSchemaWith,
} from '@outflow/io';
import { FALCO_FORMAT, falcoDecoder } from './decoder.js';

/** falcosidekick's default port, so Falco's `http_output` can point here unchanged. */
export const FALCO_HTTP_PORT = 2801;

export const falcoSchema = z
  .object({
    /** Receive alerts over HTTP (Falco `http_output`, falcosidekick webhook output). */
    http: httpServerSchemaWith({ port: FALCO_HTTP_PORT }).optional(),
    /** URL paths accepting alerts. */
    paths: z.array(z.string().startsWith('/')).min(1).default(['/', '/falco']),
    /** Read alerts from files (Falco `file_output` or captured stdout with `json_output: true`). */
    file: fileSourceSchema.optional(),
  })
  .strict();

export type FalcoConfig = z.output<typeof falcoSchema>;
export type FalcoConfigInput = z.input<typeof falcoSchema>;

/**
 * Runs the configured transports as one receiver, the HTTP server first.
 * Finite file input completes the receiver only when no HTTP server is running.
 */
export class FalcoReceiver implements Receiver {
  private readonly inner: HttpReceiver;

  constructor(ctx: ComponentContext, config: FalcoConfig) {
    const parts: Receiver[] = [];
    let http: HttpReceiver | undefined;
    const httpConfig = config.http;
    if (httpConfig) {
      const route: HttpRoute = (req, host) => decodeHttpBody(req, host, falcoDecoder, httpConfig);
      http = createHttpReceiver(ctx, httpConfig, Object.fromEntries(config.paths.map((p) => [p, route])));
      parts.push(http);
    }
    if (config.file) parts.push(createFileReceiver(ctx, config.file, { name: FALCO_FORMAT, framing: 'lines', decoder: falcoDecoder }));
    this.inner = combineReceivers(parts, http);
  }

  async start(host: ReceiverHost): Promise<void> {
    await this.inner.start(host);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  /** The HTTP server's address, once started. */
  address(): { port: number; url: string } | undefined {
    return this.inner.address();
  }
}

/**
 * `falco` receiver: Falco JSON alerts over HTTP (Falco `http_output`,
 * falcosidekick-compatible: one alert, an array, or JSON lines per POST) and
 * from files (tailed, with checkpoints).
 *
 * ```ts
 * falco({ http: { port: 2801 } })
 * falco({ file: { paths: ['/var/log/falco/events.json'], follow: true } })
 * ```
 */
export const falco = defineComponent({
  type: 'falco',
  kind: 'receiver',
  stability: 'alpha',
  description: 'Falco runtime alerts (json_output) over HTTP (http_output, falcosidekick-compatible) and from JSON-lines files',
  schema: falcoSchema,
  check: (config) => (config.http || config.file ? [] : [{ path: '', message: 'configure at least one transport: http, file or both' }]),
  create: (ctx, config) => new FalcoReceiver(ctx, config),
});
