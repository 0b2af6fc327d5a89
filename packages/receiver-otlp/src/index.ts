export { formats, OTLP_JSON_FORMAT, OtlpJsonDecoder, type OtlpJsonDecoderOptions, otlpFormats, sniffOtlpJson } from './formats.js';
export {
  bodyText,
  type CollectedMapping,
  collectMapping,
  type MapOutput,
  type MappingRule,
  type MapResult,
  nanosToMs,
  OtlpLogsMapper,
  type OtlpMapperOptions,
  plainValue,
  RequestShapeError,
  resourceWorkload,
} from './mapping.js';
export type { OtlpAnyValue, OtlpKeyValue, OtlpLogRecord, OtlpLogsRequest, OtlpResourceLogs, OtlpScopeLogs } from './model.js';
export { decodeLogsRequest, encodeLogsResponse, encodeStatus, ProtobufError } from './protobuf.js';
export { OTLP_HTTP_PORT, type OtlpLogsConfig, type OtlpLogsConfigInput, OtlpLogsReceiver, otlpLogs, otlpLogsSchema } from './receiver.js';
