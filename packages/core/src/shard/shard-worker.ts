import type { MessagePort } from 'node:worker_threads';
import type { Alert } from '../alert.js';
import type { Exporter } from '../contracts/exporter.js';
import { type DecodeMeta, type Decoder, decodeRecords, type Receiver, type ReceiverHost } from '../contracts/receiver.js';
import { errorMessage } from '../errors.js';
import { createPipeline, type Pipeline } from '../runtime/pipeline.js';
import type { FromWorker, ShardDefinition, ShardInfo, ShardWorkerInit, ToWorker } from './protocol.js';

type Input = Extract<ToWorker, { t: 'records' } | { t: 'events' } | { t: 'complete' }>;

/**
 * The shard's door into its pipeline: batches from the main thread, in the
 * order they were sent. Raw records are decoded here, in the worker, with the
 * shard's decoders; each batch is acknowledged once the pipeline processed it
 * (that frees a slot of the sender's in-flight window).
 */
class ShardInput implements Receiver {
  readonly type = 'shard_input';
  private host: ReceiverHost | undefined;
  private early: Input[] = [];
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly formats: Readonly<Record<string, Decoder<string>>>,
    private readonly post: (message: FromWorker) => void,
  ) {}

  start(host: ReceiverHost): void {
    this.host = host;
    for (const m of this.early.splice(0)) this.accept(m);
  }

  accept(message: Input): void {
    if (!this.host) {
      this.early.push(message);
      return;
    }
    const host = this.host;
    this.chain = this.chain
      .then(() => this.handle(host, message))
      .catch((err: unknown) => {
        host.deadLetter({ stage: 'receive', reason: 'shard_input_failed', message: errorMessage(err) });
      });
  }

  private async handle(host: ReceiverHost, message: Input): Promise<void> {
    if (message.t === 'complete') {
      host.complete();
      return;
    }
    const ack = () => this.post({ t: 'ack', id: message.id });
    if (this.stopped) {
      host.metrics.add('dropped', message.t === 'events' ? message.events.length : message.records.length, 'pipeline_stopped');
      ack();
      return;
    }
    if (message.t === 'events') {
      await host.emit(message.events, { onProcessed: ack });
      return;
    }
    const decoder = this.formats[message.format];
    if (!decoder) {
      for (const raw of message.records)
        host.deadLetter({ stage: 'decode', reason: 'unknown_format', message: `no decoder for format "${message.format}" in this shard`, raw });
      ack();
      return;
    }
    const meta: DecodeMeta = { observedTime: message.observedTime, receiver: host.name };
    if (message.location !== undefined) meta.location = message.location;
    if (message.firstLine !== undefined) meta.firstLine = message.firstLine;
    const { lines } = message;
    const events = decodeRecords(decoder, message.records, host, meta, lines ? (i) => lines[i] : undefined);
    await host.emit(events, { onProcessed: ack });
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
  }
}

/** Hands the shard's alerts to the main thread. */
class ShardOutput implements Exporter {
  readonly type = 'shard_output';
  constructor(private readonly post: (message: FromWorker) => void) {}
  async export(batch: readonly Alert[]): Promise<void> {
    this.post({ t: 'alerts', alerts: batch as Alert[] });
  }
  async shutdown(): Promise<void> {}
}

async function loadDefinition(init: ShardWorkerInit): Promise<ShardDefinition> {
  const mod = (await import(init.module)) as { createShard?: unknown; default?: unknown };
  const create = (typeof mod.createShard === 'function' ? mod.createShard : mod.default) as
    | ((info: ShardInfo) => ShardDefinition | Promise<ShardDefinition>)
    | undefined;
  if (typeof create !== 'function') throw new Error(`shard module ${init.module} exports neither createShard nor a default function`);
  const def = await create({ index: init.index, count: init.count, data: init.data });
  if (!def || typeof def !== 'object' || !def.pipeline) throw new Error(`shard module ${init.module}: createShard returned no { pipeline }`);
  return def;
}

/**
 * Run one shard in this worker: build its pipeline from the shard module,
 * feed it what the main thread sends on `port`, and send back alerts, acks
 * and the end of input. Called by the worker entry (`worker.js`).
 */
export async function runShardWorker(init: ShardWorkerInit, port: MessagePort): Promise<void> {
  const post = (message: FromWorker) => port.postMessage(message);
  let input: ShardInput | undefined;
  const early: ToWorker[] = [];
  let pipeline: Pipeline | undefined;
  const onMessage = (message: ToWorker) => {
    if (!pipeline || !input) {
      early.push(message);
      return;
    }
    switch (message.t) {
      case 'records':
      case 'events':
      case 'complete':
        input.accept(message);
        break;
      case 'stats':
        post({ t: 'stats', id: message.id, stats: pipeline.telemetry.stats() });
        break;
      case 'shutdown':
        void pipeline.shutdown({ deadlineMs: message.deadlineMs }).then((report) => {
          post({ t: 'stopped', report });
        });
        break;
    }
  };
  port.on('message', onMessage);
  try {
    const def = await loadDefinition(init);
    input = new ShardInput(def.formats ?? {}, post);
    const { receivers, exporters, ...rest } = def.pipeline;
    pipeline = createPipeline({
      name: `${rest.name ?? 'default'}/shard-${init.index}`,
      ...rest,
      receivers: [...(receivers ?? []), input],
      exporters: [...(exporters ?? []), new ShardOutput(post)],
    });
    await pipeline.start();
  } catch (err) {
    post({ t: 'failed', message: errorMessage(err) });
    return;
  }
  void pipeline.done.then(() => post({ t: 'done' }));
  post({ t: 'ready' });
  for (const m of early.splice(0)) onMessage(m);
}
