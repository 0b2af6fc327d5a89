import type { FormatDefinition } from '@outflow/core';
import { TETRAGON_FORMAT, tetragonDecoder } from './decoder.js';

const EVENT_KEYS = ['process_exec', 'process_exit', 'process_kprobe', 'process_lsm', 'process_tracepoint', 'process_connect', 'process_close'];

/**
 * Confidence that `head` (the first 64 KiB of a file, or one OTLP log body)
 * holds Tetragon's JSON export. A one-line object naming a Tetragon event
 * type and `"process"` scores 0.97 without being parsed (sniffing runs per
 * record in the OTLP receiver; the decoder validates anyway); a
 * pretty-printed record naming an event type and `"exec_id"` near the start
 * scores 0.7; anything else 0.
 */
export function sniffTetragon(head: string): number {
  let start = 0;
  while (start < head.length && (head.charCodeAt(start) <= 32 || head.charCodeAt(start) === 0xfeff)) start++;
  if (head.charCodeAt(start) !== 0x7b) return 0;
  let end = head.indexOf('\n', start);
  if (end < 0) end = head.length;
  const line = head.slice(start, end);
  if (line.trimEnd().endsWith('}')) return line.includes('"process"') && EVENT_KEYS.some((k) => line.includes(`"${k}"`)) ? 0.97 : 0;
  const window = head.slice(start, start + 8192);
  return EVENT_KEYS.some((k) => window.includes(`"${k}"`)) && window.includes('"exec_id"') ? 0.7 : 0;
}

/** The formats this package decodes, for `outflow decode --format` and auto-detection. */
export const formats: FormatDefinition[] = [
  {
    name: TETRAGON_FORMAT,
    description: 'Tetragon JSON export (tetra getevents -o json, export file): process exec/exit, kprobe socket and file hooks',
    framing: 'lines',
    decoder: tetragonDecoder,
    sniff: sniffTetragon,
  },
];
