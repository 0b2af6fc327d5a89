import type { ComponentContext, DecodeError, NetworkFlowEvent, Receiver, ReceiverHost } from '@outflow/core';
import { defineComponent, z } from '@outflow/core';
import { createUdpReceiver, type UdpPeer, type UdpReceiver, udpLocation, udpSchemaWith } from '@outflow/io';
import { cidrProblem, DEFAULT_INTERNAL_CIDRS } from './cidr.js';
import { NetflowDecoder, type NetflowSink } from './decoder.js';

const positiveInt = () => z.number().int().positive();

/** Configuration of the `netflow` receiver. */
export const netflowSchema = z
  .object({
    /** UDP listener (from @outflow/io); NetFlow's customary port 2055 by default (IPFIX exporters often use 4739). */
    udp: udpSchemaWith({ port: 2055 }).prefault({}),
    /** Ranges counted as internal when direction is derived from addresses. */
    internalCidrs: z
      .array(
        z.string().superRefine((value, ctx) => {
          const problem = cidrProblem(value);
          if (problem) ctx.addIssue({ code: 'custom', message: `invalid CIDR "${value}": ${problem}` });
        }),
      )
      .default([...DEFAULT_INTERNAL_CIDRS]),
    /** Take direction from flowDirection (IE 61) when a record has it; false derives it from `internalCidrs` always. */
    useFlowDirection: z.boolean().default(false),
    /** Multiply bytes and packets by the sampling interval when one is known. */
    applySampling: z.boolean().default(false),
    /** Put every field of each record, by element name, into `event.raw`. */
    includeRaw: z.boolean().default(false),
    /** Exporters (source addresses) whose templates are kept. */
    maxExporters: positiveInt().default(1000),
    /** An exporter not heard from for this long is forgotten with its templates. */
    exporterTtlMs: positiveInt().default(60 * 60_000),
    /** Templates kept per exporter, all observation domains together. */
    maxTemplatesPerExporter: positiveInt().default(1024),
    /** A template neither refreshed nor used for this long expires. */
    templateTtlMs: positiveInt().default(30 * 60_000),
    /** Bytes of data sets held while their template is missing. */
    pendingMaxBytes: positiveInt().default(1 << 20),
    /** How long a data set waits for its template. */
    pendingTtlMs: positiveInt().default(60_000),
    /** Exporter + domain + template id keys with data sets waiting. */
    pendingMaxKeys: positiveInt().default(4096),
  })
  .strict();

export type NetflowConfig = z.output<typeof netflowSchema>;
export type NetflowConfigInput = z.input<typeof netflowSchema>;

/** The `netflow` receiver: a UDP listener feeding a NetflowDecoder. */
export class NetflowReceiver implements Receiver {
  readonly decoder: NetflowDecoder;
  private readonly udp: UdpReceiver;
  private host: ReceiverHost | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private shutdownPromise: Promise<void> | undefined;
  private batch: NetworkFlowEvent[] = [];
  private readonly sink: NetflowSink;

  constructor(
    private readonly ctx: ComponentContext,
    private readonly config: NetflowConfig,
  ) {
    this.decoder = new NetflowDecoder(config);
    this.udp = createUdpReceiver(ctx, config.udp, (msg, peer, host) => this.onDatagram(msg, peer, host));
    this.sink = {
      event: (e) => this.batch.push(e),
      error: (e) => this.deadLetter(e),
      dropped: (reason, n) => this.host?.metrics.add('dropped', n, reason),
    };
  }

  /** The bound UDP port once started. */
  address(): { port: number } | undefined {
    return this.udp.address();
  }

  async start(host: ReceiverHost): Promise<void> {
    if (this.stopped || this.host) return;
    this.host = host;
    host.metrics.gauge('state_keys', () => this.decoder.templateCount, { state: 'netflow_templates' });
    host.metrics.gauge('state_keys', () => this.decoder.exporterCount, { state: 'netflow_exporters' });
    host.metrics.gauge('queue_depth', () => this.decoder.pendingSets, { queue: 'netflow_pending_sets' });
    await this.udp.start(host);
    if (this.stopped) return;
    // data sets whose template never comes must leave even when no datagram arrives
    const every = Math.min(1000, Math.max(20, Math.floor(this.config.pendingTtlMs / 4)));
    this.timer = setInterval(() => this.expire(), every);
    this.timer.unref();
  }

  private expire(): void {
    try {
      this.decoder.expire(this.host?.now() ?? this.ctx.clock.now(), this.sink);
    } catch (err) {
      this.ctx.logger.error('netflow template expiry failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  private onDatagram(msg: Buffer, peer: UdpPeer, host: ReceiverHost): void {
    this.decoder.decode(msg, peer.address, this.sink, { observedTime: host.now(), location: udpLocation(peer), receiver: host.name });
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    // UDP cannot push back: a full pipeline refuses the batch and the host counts it (refused{queue_full})
    host.tryEmit(batch);
  }

  private deadLetter(e: DecodeError): void {
    this.host?.deadLetter({ stage: 'decode', reason: e.reason, message: e.message, raw: e.raw, ...(e.location !== undefined ? { location: e.location } : {}) });
  }

  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.doShutdown();
    return this.shutdownPromise;
  }

  private async doShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.udp.shutdown();
    // data sets still waiting for a template are dropped now, each counted and dead-lettered
    if (this.host) this.decoder.flush(this.sink);
  }
}

/**
 * NetFlow v5, v9 and IPFIX over UDP: `netflow({ udp: { host: '0.0.0.0', port: 2055 } })`.
 */
export const netflow = defineComponent({
  type: 'netflow',
  kind: 'receiver',
  stability: 'alpha',
  description: 'NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) over UDP, decoded into network flow events',
  schema: netflowSchema,
  create: (ctx, config): NetflowReceiver => new NetflowReceiver(ctx, config),
});
