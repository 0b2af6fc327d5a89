import type { FormatDefinition } from '@outflow/core';
import { FALCO_FORMAT, falcoDecoder } from './decoder.js';

/**
 * Confidence that `head` (the first 64 KiB of a file, or one OTLP log body)
 * holds Falco JSON alerts. A one-line object naming `rule`, `priority`,
 * `output` and `time` scores 0.95 (0.99 with `output_fields`) without being
 * parsed (sniffing runs per record in the OTLP receiver; the decoder
 * validates anyway); pretty-printed alerts and arrays naming the keys near
 * the start score 0.7; anything else 0.
 */
export function sniffFalco(head: string): number {
  let start = 0;
  while (start < head.length && (head.charCodeAt(start) <= 32 || head.charCodeAt(start) === 0xfeff)) start++;
  const first = head.charCodeAt(start);
  if (first !== 0x7b && first !== 0x5b) return 0;
  if (first === 0x7b) {
    let end = head.indexOf('\n', start);
    if (end < 0) end = head.length;
    const line = head.slice(start, end);
    if (line.trimEnd().endsWith('}')) {
      if (!line.includes('"rule"') || !line.includes('"priority"') || !line.includes('"output"') || !line.includes('"time"')) return 0;
      return line.includes('"output_fields"') ? 0.99 : 0.95;
    }
  }
  return keySearch(head, start);
}

/** Pretty-printed alerts and arrays: the three keys near the start. */
function keySearch(head: string, start: number): number {
  const window = head.slice(start, start + 8192);
  return window.includes('"rule"') && window.includes('"priority"') && window.includes('"output"') ? 0.7 : 0;
}

/** The formats this package decodes, for `outflow decode --format` and auto-detection. */
export const formats: FormatDefinition[] = [
  {
    name: FALCO_FORMAT,
    description: 'Falco JSON alerts (json_output: true on stdout/file, http_output, falcosidekick): one alert per line, or a JSON array',
    framing: 'lines',
    decoder: falcoDecoder,
    sniff: sniffFalco,
  },
];
