import type { AnalyticDefinition } from '../analytic.js';
import { amiShared } from './cloud/ami-shared.js';
import { ebsSnapshotShared } from './cloud/ebs-snapshot-shared.js';
import { exportTaskStarted } from './cloud/export-task-started.js';
import { rdsSnapshotShared } from './cloud/rds-snapshot-shared.js';
import { resourcePolicyOpened } from './cloud/resource-policy-opened.js';
import { s3BucketPolicyExternal } from './cloud/s3-bucket-policy-external.js';
import { s3CopyExternal } from './cloud/s3-copy-external.js';
import { s3ReplicationExternal } from './cloud/s3-replication-external.js';
import { sharedSnapshotConsumed } from './cloud/shared-snapshot-consumed.js';
import { snapshotShareStory } from './cloud/snapshot-share-story.js';
import { exfiltrationChain } from './correlation/exfiltration-chain.js';
import { execPayload } from './k8s/exec-payload.js';
import { kubectlCp } from './k8s/kubectl-cp.js';
import { podExec } from './k8s/pod-exec.js';
import { secretHarvesting } from './k8s/secret-harvesting.js';
import { untrustedImageSensitiveAccess } from './k8s/untrusted-image.js';
import { cloudStorageForeignTransfer } from './network/cloud-storage-foreign-transfer.js';
import { egressVolumeAnomaly } from './network/egress-volume-anomaly.js';
import { newExternalDestination } from './network/new-external-destination.js';

// biome-ignore lint/suspicious/noExplicitAny: a list of analytics with different params types.
export type AnyAnalytic = AnalyticDefinition<any>;

/**
 * Every analytic of the T1537 strategy, in the order they are connected.
 * Order matters for correlations that reference other analytics' alerts:
 * list an analytic after those whose alerts it cites (snapshot_share_story
 * after shared_snapshot_consumed). Add new analytics here.
 */
export const ANALYTICS: readonly AnyAnalytic[] = [
  // Cloud control plane (1–8)
  ebsSnapshotShared,
  amiShared,
  rdsSnapshotShared,
  sharedSnapshotConsumed,
  s3BucketPolicyExternal,
  s3ReplicationExternal,
  s3CopyExternal,
  exportTaskStarted,
  resourcePolicyOpened,
  // Kubernetes and containers (9–13)
  podExec,
  kubectlCp,
  execPayload,
  secretHarvesting,
  untrustedImageSensitiveAccess,
  // Network (14–16) and correlation (17): part 3.
  egressVolumeAnomaly,
  newExternalDestination,
  cloudStorageForeignTransfer,
  exfiltrationChain,
  // Stories (18)
  snapshotShareStory,
];

export {
  amiShared,
  ebsSnapshotShared,
  execPayload,
  exportTaskStarted,
  kubectlCp,
  podExec,
  rdsSnapshotShared,
  resourcePolicyOpened,
  s3BucketPolicyExternal,
  s3CopyExternal,
  s3ReplicationExternal,
  secretHarvesting,
  sharedSnapshotConsumed,
  snapshotShareStory,
  untrustedImageSensitiveAccess,
};
