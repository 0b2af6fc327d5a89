export {
  type AnalyticDefinition,
  type AnalyticEnv,
  type AnalyticStatus,
  ATTACK,
  adjustSeverity,
  defineAnalytic,
  detectionRefOf,
  withAnalyticRef,
} from './analytic.js';
export { analysePolicy, type ExternalGrant, type PolicyAnalysis, parsePolicyDocument, restrictingCondition } from './analytics/cloud/policy.js';
export { CONSUME_OPERATIONS, snapshotIdOf, snapshotStep } from './analytics/cloud/snapshots.js';
export * from './analytics/index.js';
export { type EventTimeOrderedOptions, eventTimeOrdered, ORDER_BUFFER_VERSION, OrderBuffer, type OrderBufferSnapshot } from './analytics/ordered.js';
export * from './classify/index.js';
export {
  type AnalyticSettings,
  baseConfigSchema,
  buildConfigSchema,
  checkConfig,
  type T1537Config,
  type T1537ConfigInput,
} from './config.js';
export {
  type AccountClass,
  AccountOwnership,
  type AccountOwnershipOptions,
  accountOf,
  BucketOwnership,
  type BucketOwnershipOptions,
  isPublicGrantee,
  type OwnershipContext,
} from './enrich/account-ownership.js';
export { paramsHash, stateVersion } from './enrich/checkpoint.js';
export { bucketFromArn, CloudResourceLearner } from './enrich/cloud-resources.js';
export {
  type CloudPrefix,
  classifyFlow,
  DESTINATION_CLASSES,
  type Destination,
  type DestinationClass,
  DestinationClassifier,
  type DestinationClassifierOptions,
  DestinationClassProcessor,
  isSelfTraffic,
  loadAwsIpRanges,
  parseAwsIpRanges,
  parseEndpoint,
} from './enrich/destination-class.js';
export { digestOf, type ImageReference, ImageTrust, type ImageTrustOptions, ImageTrustProcessor, parseImageReference } from './enrich/image-trust.js';
export { PodWatcher, type PodWatcherOptions } from './enrich/kubernetes-watch.js';
export { ownerOf, podFromInventoryEntry, podFromObject } from './enrich/pods.js';
export {
  loadInventory,
  merge as mergeWorkload,
  podsFromInventory,
  type WorkloadIdentityOptions,
  WorkloadIdentityProcessor,
  Workloads,
} from './enrich/workload-identity.js';
export {
  addressKey,
  containerKey,
  type PodRecord,
  restoreWorkloadIndex,
  snapshotWorkloadIndex,
  VersionedIndex,
  WorkloadIndex,
  type WorkloadIndexOptions,
  type WorkloadSource,
  type WorkloadVersion,
} from './enrich/workload-index.js';
export {
  type ExceptionRule,
  type ExceptionStatus,
  ExceptionSuppressor,
  type ExceptionSuppressorOptions,
  exceptionRuleSchema,
  expiredExceptions,
} from './hygiene/exceptions.js';
export {
  CompiledMatch,
  compileMatcher,
  FIELD_PATH_HELP,
  type FieldMatcher,
  fieldGetter,
  isoDateSchema,
  type MatchSpec,
  matchSpecSchema,
} from './hygiene/match.js';
export { type SuppressionWindow, SuppressionWindowSuppressor, suppressionWindowSchema } from './hygiene/suppressions.js';
export {
  analyticEnv,
  createAnalytic,
  createEnvironment,
  defaultExceptions,
  type SharedEnvironment,
  type T1537Bundle,
  t1537,
  t1537Config,
} from './preset.js';
export { GlobSet, globToRegExp } from './util/glob.js';
export { isIpAddress, type ParsedAddress, type ParsedCidr, parseAddress, parseCidr, parseIPv4 } from './util/ip.js';
export { PrefixMap } from './util/prefix-map.js';
