import { type ComponentContext, defineComponent, type Receiver, type ReceiverHost, z } from '@outflow/core';
import { createFileReceiver, fileSourceSchema } from '@outflow/io';
import { TETRAGON_FORMAT, TetragonDecoder } from './decoder.js';

export const tetragonSchema = z
  .object({
    /** Tetragon's JSON export file(s) (`export-filename`, default /var/run/cilium/tetragon/tetragon.log), tailed with checkpoints. */
    file: fileSourceSchema,
  })
  .strict();

export type TetragonConfig = z.output<typeof tetragonSchema>;
export type TetragonConfigInput = z.input<typeof tetragonSchema>;

/** Reads Tetragon export files; records with no Outflow shape are counted as `dropped{reason}`. */
export class TetragonReceiver implements Receiver {
  private readonly inner: Receiver;

  constructor(ctx: ComponentContext, config: TetragonConfig) {
    const decoder = new TetragonDecoder({ onSkip: (reason) => ctx.metrics.add('dropped', 1, reason) });
    this.inner = createFileReceiver(ctx, config.file, { name: TETRAGON_FORMAT, framing: 'lines', decoder });
  }

  start(host: ReceiverHost): Promise<void> | void {
    return this.inner.start(host);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/**
 * `tetragon` receiver: Tetragon's JSON export (process exec/exit, kprobes on
 * socket and file hooks), tailed from files.
 *
 * ```ts
 * tetragon({ file: { paths: ['/var/run/cilium/tetragon/tetragon.log'], follow: true, checkpoint: { path: '/var/lib/outflow/tetragon.json' } } })
 * ```
 */
export const tetragon = defineComponent({
  type: 'tetragon',
  kind: 'receiver',
  stability: 'alpha',
  description: 'Tetragon JSON export (process exec/exit, kprobe socket and file hooks) from tailed files',
  schema: tetragonSchema,
  create: (ctx, config) => new TetragonReceiver(ctx, config),
});
