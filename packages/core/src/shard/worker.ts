/**
 * Worker entry of a sharded pipeline (started by `startShardedPipeline`):
 * runs one shard with the init data it was given.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ShardWorkerInit } from './protocol.js';
import { runShardWorker } from './shard-worker.js';

const init = (workerData as { outflowShard?: ShardWorkerInit } | undefined)?.outflowShard;
if (parentPort && init) await runShardWorker(init, parentPort);
