export { type AlertWorkerOptions, NatsAlertWorker } from './alert-worker.js';
export { type NatsAlertsConfig, NatsAlertsExporter, natsAlerts, natsAlertsConfigSchema } from './alerts.js';
export {
  CheckpointDeferredError,
  CheckpointFencedError,
  FencedCheckpointStore,
  type KvCheckpointStoreOptions,
  NatsKvCheckpointStore,
} from './checkpoint-store.js';
export {
  acquireConnection,
  type ConnectionLease,
  type NatsConnectionConfig,
  type NatsConnectionInput,
  natsConnectionSchema,
} from './connection.js';
export {
  type DetectorAssignment,
  type DetectorEvent,
  NatsDetector,
  type NatsDetectorOptions,
  type PartitionPipelineOptions,
} from './detector.js';
export {
  alertSubject,
  DEFAULT_PREFIX,
  detectionKey,
  fnv1a32,
  type KeyFunction,
  keyedSubject,
  partitionOf,
  partitionSubject,
  serverMappingConfig,
  staticPartitions,
  subjectToken,
} from './keys.js';
export { defaultInstanceId, type LeaseConfig, leaseSchema, PartitionLeases, type PartitionLeasesOptions, type ReleaseReason } from './leases.js';
export {
  CONTROL_HEADER,
  eventMessageId,
  KEY_HEADER,
  NatsEventPublisher,
  type NatsPublishConfig,
  NatsPublishProcessor,
  natsPublish,
  type PublisherOptions,
  type PublishResult,
} from './publisher.js';
export {
  isNatsPosition,
  type NatsEventsConfig,
  type NatsEventsInput,
  NatsEventsReceiver,
  type NatsPosition,
  natsEvents,
  natsEventsConfigSchema,
} from './receiver.js';
export { findNatsServer, type LocalNatsServer, type LocalNatsServerOptions, startNatsServer } from './server.js';
export { type AlertsStreamConfig, alertsStreamSchema, type EventsStreamConfig, ensureAlertsStream, ensureEventsStream, eventsStreamSchema } from './streams.js';
