import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { type ComponentMetrics, errorMessage, type Logger, silentLogger } from '@outflow/core';
import type { UdpConfig } from './config.js';
import type { TransportError } from './types.js';

export interface UdpPeer {
  address: string;
  port: number;
}

export interface UdpListenerOptions {
  logger?: Logger;
  /** `received` per datagram handed on; `dropped{datagram_too_large|handler_exception}` per datagram refused. */
  metrics?: ComponentMetrics;
  /** Oversize datagrams and handler exceptions, with the datagram's bytes (a prefix when oversize). */
  onError?(error: TransportError): void;
}

/** `udp://address:port`, IPv6 addresses bracketed. */
export function udpLocation(peer: UdpPeer): string {
  return `udp://${peer.address.includes(':') ? `[${peer.address}]` : peer.address}:${peer.port}`;
}

const PREFIX_BYTES = 4096;

/**
 * A UDP socket handing each datagram to `onDatagram`, synchronously, on the
 * socket's event. Oversize datagrams and exceptions thrown by the handler are
 * counted and reported through `onError`; the socket keeps receiving.
 */
export class UdpListener {
  private socket: Socket | undefined;
  private startPromise: Promise<{ port: number }> | undefined;
  private stopPromise: Promise<void> | undefined;
  private readonly logger: Logger;
  private boundPort: number | undefined;

  constructor(
    readonly config: UdpConfig,
    readonly onDatagram: (msg: Buffer, peer: UdpPeer) => void,
    readonly options: UdpListenerOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
  }

  /** The bound port once started. */
  address(): { port: number } | undefined {
    return this.boundPort === undefined ? undefined : { port: this.boundPort };
  }

  /** Bind. Rejects when the address cannot be bound. Calling it twice returns the same promise. */
  start(): Promise<{ port: number }> {
    this.startPromise ??= this.doStart();
    return this.startPromise;
  }

  private doStart(): Promise<{ port: number }> {
    const { config } = this;
    const socket = createSocket({
      type: isIPv6(config.host.replace(/^\[|\]$/g, '')) ? 'udp6' : 'udp4',
      ...(config.receiveBufferBytes !== undefined ? { recvBufferSize: config.receiveBufferBytes } : {}),
    });
    this.socket = socket;
    socket.on('message', (msg, rinfo) => this.onMessage(msg, { address: rinfo.address, port: rinfo.port }));
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        socket.close();
        reject(err);
      };
      socket.once('error', onError);
      socket.bind(config.port, config.host.replace(/^\[|\]$/g, ''), () => {
        socket.off('error', onError);
        socket.on('error', (err) => this.logger.error('udp socket error', { error: errorMessage(err) }));
        this.boundPort = socket.address().port;
        resolve({ port: this.boundPort });
      });
    });
  }

  private onMessage(msg: Buffer, peer: UdpPeer): void {
    const max = this.config.maxDatagramBytes;
    if (msg.length > max) {
      this.options.metrics?.add('dropped', 1, 'datagram_too_large');
      this.options.onError?.({
        reason: 'datagram_too_large',
        message: `datagram of ${msg.length} bytes exceeds maxDatagramBytes ${max}`,
        raw: msg.subarray(0, Math.min(max, PREFIX_BYTES)),
        location: udpLocation(peer),
      });
      return;
    }
    try {
      this.onDatagram(msg, peer);
      this.options.metrics?.add('received', 1);
    } catch (err) {
      this.options.metrics?.add('dropped', 1, 'handler_exception');
      this.options.onError?.({ reason: 'handler_exception', message: errorMessage(err), raw: msg, location: udpLocation(peer) });
    }
  }

  /** Close the socket. Idempotent; safe before start. */
  stop(): Promise<void> {
    this.stopPromise ??= this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    if (!this.startPromise) return;
    try {
      await this.startPromise;
    } catch {
      return;
    }
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
