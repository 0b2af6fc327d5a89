import type { DecodeMeta, Decoder, DecodeSink, FormatDefinition, NetworkFlowEvent } from '@outflow/core';
import { NetflowDecoder, type NetflowDecoderOptions } from './decoder.js';

/**
 * Text framing of captured datagrams, one per line, for files and the CLI:
 *
 *     [exporter [port]] <hex payload>
 *
 * fields separated by tabs or spaces; the payload may use `:` between bytes.
 * This is what `tshark -r capture.pcap -Y cflow -T fields -e ip.src -e udp.srcport -e udp.payload`
 * prints, so a pcap converts with one command. Without an exporter field the
 * input's location names the exporter. Lines starting with `#` are comments.
 */
export const HEX_LINES_HELP = '[exporter [port]] <hex payload>  (tshark -T fields -e ip.src -e udp.srcport -e udp.payload)';

const HEX = /^[0-9a-fA-F]+$/;

/** Bytes of a hex payload (colons allowed between bytes), or undefined. */
export function parseHexPayload(text: string): Uint8Array | undefined {
  const hex = text.includes(':') ? text.replaceAll(':', '') : text;
  if (hex.length === 0 || hex.length % 2 !== 0 || !HEX.test(hex)) return undefined;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

interface ParsedLine {
  exporter: string | undefined;
  port: string | undefined;
  payload: Uint8Array;
}

function parseLine(line: string): ParsedLine | undefined | null {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return null;
  const fields = trimmed.split(/[\t ]+/);
  const payload = parseHexPayload(fields[fields.length - 1] as string);
  if (!payload) return undefined;
  return { exporter: fields.length >= 2 ? fields[0] : undefined, port: fields.length >= 3 ? fields[1] : undefined, payload };
}

/**
 * Decoder<string> over the hex-lines framing. It keeps one NetflowDecoder, so
 * templates seen on earlier lines decode data on later ones (its template cache
 * is bounded like the receiver's).
 */
export class NetflowHexLineDecoder implements Decoder<string, NetworkFlowEvent> {
  readonly format = 'netflow';
  private readonly inner: NetflowDecoder;

  constructor(options: NetflowDecoderOptions = {}) {
    this.inner = new NetflowDecoder(options);
  }

  decode(line: string, sink: DecodeSink<NetworkFlowEvent>, meta: DecodeMeta): void {
    const parsed = parseLine(line);
    if (parsed === null) return;
    const where = meta.location === undefined ? undefined : meta.line === undefined ? meta.location : `${meta.location}:${meta.line}`;
    if (parsed === undefined) {
      sink.error({ reason: 'invalid_hex', message: 'expected "[exporter [port]] <hex payload>"', raw: line, ...(where ? { location: where } : {}) });
      return;
    }
    const exporter = parsed.exporter ?? meta.location ?? 'unknown';
    const location = where ?? (parsed.port ? `udp://${exporter}:${parsed.port}` : `udp://${exporter}`);
    this.inner.decode(parsed.payload, exporter, sink, { ...meta, location });
  }
}

/** Confidence that `head` is hex-lines NetFlow: the share of its first lines that parse as v5, v9 or IPFIX datagrams. */
export function sniffNetflowHexLines(head: string): number {
  let seen = 0;
  let good = 0;
  let start = 0;
  while (start < head.length && seen < 20) {
    let end = head.indexOf('\n', start);
    const complete = end >= 0;
    if (!complete) end = head.length;
    const line = head.slice(start, end);
    start = end + 1;
    const parsed = parseLine(line);
    if (parsed === null) continue;
    if (!complete && seen > 0) break; // a cut last line says nothing
    seen++;
    if (parsed && looksLikeNetflow(parsed.payload)) good++;
  }
  if (seen === 0) return 0;
  return (good / seen) * 0.95;
}

function looksLikeNetflow(b: Uint8Array): boolean {
  if (b.length < 4) return false;
  const version = ((b[0] as number) << 8) | (b[1] as number);
  const second = ((b[2] as number) << 8) | (b[3] as number);
  if (version === 5) return b.length >= 24 && second >= 1 && second <= 30 && b.length >= 24 + 48 * second;
  if (version === 9) return b.length >= 20;
  if (version === 10) return b.length >= 16 && second === b.length;
  return false;
}

/** The formats this package decodes, for the CLI and format detection. */
export const formats: FormatDefinition[] = [
  {
    name: 'netflow',
    description: `NetFlow v5/v9 and IPFIX datagrams as hex lines: ${HEX_LINES_HELP}`,
    framing: 'lines',
    decoder: new NetflowHexLineDecoder(),
    sniff: sniffNetflowHexLines,
  },
];
