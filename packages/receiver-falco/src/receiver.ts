import { type ComponentContext, defineComponent, type Receiver, type ReceiverHost, z } from '@outflow/core';
import { createFileReceiver, createHttpReceiver, decodeHttpBody, fileSourceSchema, type HttpReceiver, httpServerSchemaWith } from '@outflow/io';
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
 * Runs the configured transports as one receiver. Finite file input completes
 * the receiver only when no HTTP server is running.
 */
export class FalcoReceiver implements Receiver {
  private readonly http: HttpReceiver | undefined;
  private readonly file: Receiver | undefined;

  constructor(ctx: ComponentContext, config: FalcoConfig) {
    if (config.http) {
      const http = config.http;
      const route = (req: Parameters<typeof decodeHttpBody>[0], host: ReceiverHost) => decodeHttpBody(req, host, falcoDecoder, http);
      this.http = createHttpReceiver(ctx, http, Object.fromEntries(config.paths.map((p) => [p, route])));
    }
    if (config.file) this.file = createFileReceiver(ctx, config.file, { name: FALCO_FORMAT, framing: 'lines', decoder: falcoDecoder });
  }

  async start(host: ReceiverHost): Promise<void> {
    // With an HTTP server running, the end of the files is not the end of the receiver. Delegate rather than
    // spread: a host may keep its methods on a prototype.
    const fileHost: ReceiverHost = this.http
      ? {
          name: host.name,
          metrics: host.metrics,
          emit: (batch) => host.emit(batch),
          tryEmit: (batch) => host.tryEmit(batch),
          deadLetter: (entry) => host.deadLetter(entry),
          now: () => host.now(),
          complete: () => {},
        }
      : host;
    try {
      await this.http?.start(host);
      await this.file?.start(fileHost);
    } catch (err) {
      await this.shutdown();
      throw err;
    }
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.http?.shutdown(), this.file?.shutdown()]);
  }

  /** The HTTP server's address, once started. */
  address(): { port: number; url: string } | undefined {
    return this.http?.address();
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
