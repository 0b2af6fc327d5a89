/**
 * OTLP logs in their JSON shape (the protobuf JSON mapping with OTLP's
 * deviations: trace and span ids in hex, enums as integers). The protobuf
 * reader produces exactly this shape, so one mapping serves both encodings.
 * Every field is optional: receivers must tolerate what senders leave out.
 */

export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  /** int64: a decimal string (JSON mapping) or a number (some senders). */
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
  /** base64 */
  bytesValue?: string;
}

export interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}

export interface OtlpLogRecord {
  /** fixed64 nanoseconds since the epoch: a decimal string or a number. */
  timeUnixNano?: string | number;
  observedTimeUnixNano?: string | number;
  severityNumber?: number;
  severityText?: string;
  body?: OtlpAnyValue;
  attributes?: OtlpKeyValue[];
  droppedAttributesCount?: number;
  flags?: number;
  /** hex */
  traceId?: string;
  /** hex */
  spanId?: string;
  eventName?: string;
}

export interface OtlpScopeLogs {
  scope?: { name?: string; version?: string; attributes?: OtlpKeyValue[] };
  logRecords: OtlpLogRecord[];
  schemaUrl?: string;
}

export interface OtlpResourceLogs {
  resource?: { attributes?: OtlpKeyValue[] };
  scopeLogs: OtlpScopeLogs[];
  schemaUrl?: string;
}

/** `ExportLogsServiceRequest` (also the shape of `LogsData`). */
export interface OtlpLogsRequest {
  resourceLogs: OtlpResourceLogs[];
}
