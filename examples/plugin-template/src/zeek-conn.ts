import { createHash } from 'node:crypto';
import {
  addressScope,
  type DecodeMeta,
  type Decoder,
  type DecodeSink,
  defineComponent,
  type FormatDefinition,
  metaLocation,
  type NetworkFlowEvent,
  z,
} from '@outflow/core';
import { createFileReceiver, fileSourceSchema } from '@outflow/io';

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1 };

/**
 * Zeek `conn.log` in JSON (LogAscii::use_json=T): one connection per line, `id.orig_h` → `id.resp_h`, with bytes in
 * both directions. A pure decoder: bad lines go to `sink.error` with a reason; it never throws.
 */
export class ZeekConnDecoder implements Decoder<string> {
  readonly format = 'zeek_conn';

  decode(line: string, sink: DecodeSink, meta: DecodeMeta): void {
    const location = metaLocation(meta);
    const at = location ? { location } : {};
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line) as Record<string, unknown>;
    } catch (err) {
      sink.error({ reason: 'invalid_json', message: (err as Error).message, raw: line, ...at });
      return;
    }
    if (typeof r !== 'object' || r === null || Array.isArray(r)) {
      sink.error({ reason: 'invalid_record', message: 'expected a JSON object', raw: line, ...at });
      return;
    }
    const ts = r.ts;
    const orig = r['id.orig_h'];
    const resp = r['id.resp_h'];
    if (typeof ts !== 'number' || !Number.isFinite(ts) || typeof orig !== 'string' || typeof resp !== 'string') {
      sink.error({ reason: 'missing_field', message: 'conn.log records need ts, id.orig_h and id.resp_h', raw: line, ...at });
      return;
    }
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
    const start = Math.round(ts * 1000);
    const duration = num(r.duration) ?? 0;
    const origScope = addressScope(orig);
    const respScope = addressScope(resp);
    const origInside = origScope !== 'public';
    const respInside = respScope !== 'public';
    const event: NetworkFlowEvent = {
      kind: 'network_flow',
      time: start + Math.round(duration * 1000),
      observedTime: meta.observedTime,
      source: 'zeek_conn',
      sourceId: typeof r.uid === 'string' ? r.uid : createHash('sha256').update(line).digest('hex').slice(0, 20),
      src: { address: orig, ...(num(r['id.orig_p']) !== undefined ? { port: num(r['id.orig_p']) } : {}) },
      dst: { address: resp, ...(num(r['id.resp_p']) !== undefined ? { port: num(r['id.resp_p']) } : {}) },
      direction: origInside && !respInside ? 'egress' : !origInside && respInside ? 'ingress' : origInside && respInside ? 'internal' : 'unknown',
      start,
      end: start + Math.round(duration * 1000),
      action: 'accept',
      raw: r,
      ...(location ? { location } : {}),
      ...(meta.receiver ? { receiver: meta.receiver } : {}),
    };
    const proto = typeof r.proto === 'string' ? PROTOCOLS[r.proto] : undefined;
    if (proto !== undefined) event.protocol = proto;
    const ob = num(r.orig_bytes);
    const rb = num(r.resp_bytes);
    if (ob !== undefined) event.bytes = ob;
    if (rb !== undefined) event.reverseBytes = rb;
    const op = num(r.orig_pkts);
    const rp = num(r.resp_pkts);
    if (op !== undefined) event.packets = op;
    if (rp !== undefined) event.reversePackets = rp;
    if (typeof r.service === 'string') event.attributes = { 'network.protocol.name': r.service };
    sink.event(event);
  }
}

export const zeekConnDecoder = new ZeekConnDecoder();

/** The format, so `outflow decode` and auto-detection can use it. */
export const zeekConnFormat: FormatDefinition = {
  name: 'zeek_conn',
  description: 'Zeek conn.log, JSON lines',
  framing: 'lines',
  decoder: zeekConnDecoder,
  sniff: (head) => (/"id\.orig_h"\s*:/.test(head) && /"uid"\s*:/.test(head) ? 0.9 : 0),
};

/** The receiver component: files (plain or gzip, followed and checkpointed) of Zeek conn.log JSON. */
export const zeekConn = defineComponent({
  type: 'zeek_conn',
  kind: 'receiver',
  stability: 'alpha',
  description: 'Zeek conn.log (JSON lines) as network flows',
  schema: z.object({ file: fileSourceSchema }).strict(),
  create: (ctx, config) => createFileReceiver(ctx, config.file, zeekConnFormat),
});
