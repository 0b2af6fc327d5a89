import { type ShardDefinition, type ShardInfo, silentLogger } from '@outflow/core';
import { t1537 } from '@outflow/detections';
import { VpcFlowDecoder } from '@outflow/receiver-flow-logs';
import { k8sAuditDecoder } from '@outflow/receiver-k8s-audit';

/** What the bench hands every shard. */
export interface BenchShardData {
  /** The `t1537` configuration (with the inventory path: every shard loads it). */
  preset: Record<string, unknown>;
}

/**
 * The shard module of the sharded benchmarks: each worker runs the whole
 * `t1537` preset, and decodes the VPC flow and audit records routed to it
 * with the same decoders the file receivers use.
 */
export function createShard(shard: ShardInfo): ShardDefinition {
  const data = shard.data as BenchShardData;
  return {
    pipeline: { detections: t1537(data.preset), logger: silentLogger },
    formats: { aws_vpc_flow: new VpcFlowDecoder(), k8s_audit: k8sAuditDecoder },
  };
}
