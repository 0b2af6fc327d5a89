import {
  type Alert,
  type ComponentContext,
  defineComponent,
  deliveryFromConfig,
  type Exporter,
  type ExporterDelivery,
  exporterDeliveryShape,
  PermanentError,
  RetryableError,
  usableAlerts,
  z,
} from '@outflow/core';
import { type ConsoleFormatOptions, formatAlert } from './format.js';

export { type ConsoleFormatOptions, formatAlert, terminalSafe, workloadLabel } from './format.js';

/** A stream the console exporter writes to: process.stdout, process.stderr, a file or socket stream. */
export type ConsoleStream = NodeJS.WritableStream & { isTTY?: boolean };

const isStream = (v: unknown): v is ConsoleStream => typeof v === 'object' && v !== null && typeof (v as { write?: unknown }).write === 'function';

export const consoleConfigSchema = z
  .object({
    /** Where to write. Default process.stdout. */
    stream: z.custom<ConsoleStream>(isStream, 'expected a writable stream').optional(),
    /** `auto`: colour when the stream is a TTY and NO_COLOR is unset. */
    color: z.enum(['auto', 'always', 'never']).default('auto'),
    /** Print the indented explanation under each headline. */
    explain: z.boolean().default(true),
    /** Evidence references listed per alert. */
    maxEvidence: z.number().int().nonnegative().default(5),
    ...exporterDeliveryShape,
  })
  .strict();

export type ConsoleExporterConfig = z.output<typeof consoleConfigSchema>;

/** Whether to colour output for `stream` under `mode`, given the environment. */
export function useColor(mode: 'auto' | 'always' | 'never', stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (mode === 'always') return true;
  if (mode === 'never') return false;
  return stream.isTTY === true && !(env.NO_COLOR !== undefined && env.NO_COLOR !== '');
}

/** Writes one readable line per alert, with an indented explanation. */
export class ConsoleExporter implements Exporter {
  readonly delivery: ExporterDelivery;
  private readonly stream: ConsoleStream;
  private readonly format: ConsoleFormatOptions;
  private closed = false;

  constructor(
    private readonly ctx: Pick<ComponentContext, 'deadLetter'>,
    config: ConsoleExporterConfig,
  ) {
    this.stream = config.stream ?? process.stdout;
    this.format = {
      color: useColor(config.color, this.stream),
      explain: config.explain,
      maxEvidence: config.maxEvidence,
      indent: '    ',
    };
    this.delivery = deliveryFromConfig(config);
  }

  async export(batch: readonly Alert[], signal: AbortSignal): Promise<void> {
    if (this.closed) throw new PermanentError('console exporter is shut down');
    const alerts = usableAlerts(batch, this.ctx);
    if (alerts.length === 0) return;
    let text = '';
    for (const alert of alerts) text += formatAlert(alert, this.format);
    await this.write(text, signal);
  }

  private write(text: string, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err?: unknown) => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => finish(new RetryableError('console write aborted before the stream drained'));
      signal.addEventListener('abort', onAbort, { once: true });
      let flushed = false;
      let drained = true;
      const ok = this.stream.write(text, (err?: Error | null) => {
        if (err) {
          finish(new PermanentError(`console stream write failed: ${err.message}`, { cause: err }));
          return;
        }
        flushed = true;
        if (drained) finish();
      });
      if (!ok) {
        drained = false;
        this.stream.once('drain', () => {
          drained = true;
          if (flushed) finish();
        });
      }
    });
  }

  async shutdown(): Promise<void> {
    this.closed = true;
  }
}

/** `console` exporter: one readable line per alert, colour on a TTY only. */
export const consoleExporter = defineComponent({
  type: 'console',
  kind: 'exporter',
  stability: 'beta',
  description: 'Writes one readable line per alert with an indented explanation; colour on a TTY only (and never with NO_COLOR).',
  schema: consoleConfigSchema,
  create: (ctx, config) => new ConsoleExporter(ctx, config),
});
