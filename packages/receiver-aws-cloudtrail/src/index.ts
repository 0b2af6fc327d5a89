export { CLOUDTRAIL_FORMAT, CloudTrailDecoder, cloudTrailDecoder } from './decoder.js';
export { cloudTrailFormat, formats, sniffCloudTrail } from './formats.js';
export {
  CLOUDTRAIL_DIGEST_GLOB,
  CLOUDTRAIL_MAX_FILE_BYTES,
  type CloudTrailConfig,
  type CloudTrailConfigInput,
  type CloudTrailReceiver,
  cloudTrail,
  cloudTrailConfigSchema,
  createCloudTrailReceiver,
} from './receiver.js';
