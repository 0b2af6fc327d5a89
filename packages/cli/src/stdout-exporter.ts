import type { Alert, Exporter } from '@outflow/core';

/** Writes each alert as one JSON line to a stream (stdout by default): the CLI's default output. */
export class JsonLinesStreamExporter implements Exporter {
  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly before?: () => void,
  ) {}

  async export(batch: readonly Alert[]): Promise<void> {
    this.before?.();
    let text = '';
    for (const alert of batch) text += `${JSON.stringify(alert)}\n`;
    if (!this.stream.write(text)) await new Promise<void>((resolve) => this.stream.once('drain', () => resolve()));
  }

  async shutdown(): Promise<void> {}
}
