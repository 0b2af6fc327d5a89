export { fnv1a, hashKey, mix32, recordField, shardOf } from './hash.js';
export type { RecordMeta, ShardDefinition, ShardInfo } from './protocol.js';
export {
  type ShardedPipeline,
  type ShardedPipelineOptions,
  type ShardedShutdownReport,
  type ShardStats,
  startShardedPipeline,
} from './sharded-pipeline.js';
