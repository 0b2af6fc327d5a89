export {
  type BucketOwnershipClass,
  type ClassifyOptions,
  classifyArgv,
  classifyCommandLine,
  cloudCopySeverity,
  PAYLOAD_CATEGORIES,
  type PayloadBucket,
  type PayloadCategory,
  type PayloadClassification,
  type PayloadDestination,
  type PayloadMatch,
} from './payload.js';
export { basename, type ParsedScript, type ParseOptions, parseScript, type Redirect, type SimpleCommand, splitWords } from './shell.js';
export {
  type BucketRef,
  bucketOf,
  defaultTargetClass,
  hostNameClass,
  isDataPath,
  METADATA_HOSTS,
  parseUrl,
  type Reach,
  reachOf,
  type SensitiveKind,
  type SensitivePath,
  sensitivePathOf,
  type TargetClass,
} from './targets.js';
