import type { AttributeValue, CloudActor, CloudApiCallEvent, DecodeMeta, Decoder, DecodeSink, OutflowEvent } from '@outflow/core';
import {
  type At,
  atLine,
  brief,
  decodeJsonInputGuarded,
  derivedId,
  isObject,
  type Json,
  type JsonInputHandler,
  lastJsonError,
  NOT_JSON,
  nonEmpty,
  parseJson,
  parseTimestamp,
  pointerLocation,
  recordError,
  recordText,
  str,
} from '@outflow/core/codec';

/** Format name of CloudTrail records. */
export const CLOUDTRAIL_FORMAT = 'aws_cloudtrail';

type Resource = { type?: string; arn?: string; accountId?: string };

function actorOf(identity: unknown): CloudActor {
  const actor: CloudActor = {};
  if (!isObject(identity)) return actor;
  const type = nonEmpty(identity.type);
  if (type !== undefined) actor.type = type;
  const accountId = nonEmpty(identity.accountId);
  if (accountId !== undefined) actor.accountId = accountId;
  const principalId = nonEmpty(identity.principalId);
  if (principalId !== undefined) actor.principalId = principalId;
  const arn = nonEmpty(identity.arn);
  if (arn !== undefined) actor.arn = arn;
  const userName = nonEmpty(identity.userName);
  if (userName !== undefined) actor.userName = userName;
  const invokedBy = nonEmpty(identity.invokedBy);
  if (invokedBy !== undefined) actor.invokedBy = invokedBy;
  const accessKeyId = nonEmpty(identity.accessKeyId);
  if (accessKeyId !== undefined) actor.accessKeyId = accessKeyId;
  const session = identity.sessionContext;
  if (isObject(session) && isObject(session.sessionIssuer)) {
    const issuerArn = nonEmpty(session.sessionIssuer.arn);
    if (issuerArn !== undefined) actor.sessionIssuerArn = issuerArn;
  }
  return actor;
}

function resourcesOf(value: unknown): Resource[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: Resource[] = [];
  for (const r of value) {
    if (!isObject(r)) continue;
    const res: Resource = {};
    const type = nonEmpty(r.type);
    if (type !== undefined) res.type = type;
    const arn = nonEmpty(r.ARN) ?? nonEmpty(r.arn);
    if (arn !== undefined) res.arn = arn;
    const accountId = nonEmpty(r.accountId);
    if (accountId !== undefined) res.accountId = accountId;
    out.push(res);
  }
  return out;
}

function boolOf(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  return undefined;
}

/**
 * Decodes AWS CloudTrail into `CloudApiCallEvent`s: delivery files
 * (`{"Records":[...]}`), bare arrays of records, single records, EventBridge
 * envelopes (`detail-type` "... via CloudTrail", `detail` = the record),
 * `aws cloudtrail lookup-events` output (`Events[].CloudTrailEvent`), and JSON
 * lines or concatenations of any of these. Pure and never throws: a bad record
 * goes to `sink.error` and the other records of the file are still decoded.
 */
export class CloudTrailDecoder implements Decoder<string>, JsonInputHandler {
  readonly format = CLOUDTRAIL_FORMAT;

  decode(input: string, sink: DecodeSink, meta: DecodeMeta): void {
    decodeJsonInputGuarded(input, sink, meta, this);
  }

  /** @internal One JSON value of the input. */
  value(value: unknown, text: string | undefined, line: number | undefined, sink: DecodeSink, meta: DecodeMeta): void {
    const at = atLine(meta, line);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) this.record(value[i], undefined, at, `/${i}`, sink, meta);
      return;
    }
    this.document(value, text, at, '', sink, meta);
  }

  private document(v: unknown, text: string | undefined, at: At, pointer: string, sink: DecodeSink, meta: DecodeMeta): void {
    if (!isObject(v)) {
      recordError(sink, 'unrecognized_record', `expected a JSON object, got ${v === null ? 'null' : typeof v}`, v, text, at, pointer);
      return;
    }
    const records = v.Records;
    if (records !== undefined && v.eventName === undefined) {
      if (!Array.isArray(records)) {
        recordError(sink, 'invalid_field', 'Records must be an array', v, text, at, pointer);
        return;
      }
      for (let i = 0; i < records.length; i++) this.record(records[i], undefined, at, `${pointer}/Records/${i}`, sink, meta);
      return;
    }
    const detailType = v['detail-type'];
    if (detailType !== undefined) {
      if (typeof detailType !== 'string' || !detailType.endsWith('via CloudTrail')) {
        recordError(sink, 'unsupported_record', `EventBridge detail-type ${brief(detailType)} does not carry a CloudTrail record`, v, text, at, pointer);
        return;
      }
      this.record(v.detail, undefined, at, `${pointer}/detail`, sink, meta);
      return;
    }
    const lookup = v.Events;
    if (Array.isArray(lookup) && v.eventName === undefined) {
      for (let i = 0; i < lookup.length; i++) this.lookupEvent(lookup[i], at, `${pointer}/Events/${i}`, sink, meta);
      return;
    }
    if (v.digestStartTime !== undefined && v.logFiles !== undefined) {
      recordError(sink, 'not_event_file', 'a CloudTrail digest file carries no events (exclude *CloudTrail-Digest* files)', v, text, at, pointer);
      return;
    }
    this.record(v, text, at, pointer, sink, meta);
  }

  /** One entry of `aws cloudtrail lookup-events` output: the record is the JSON string `CloudTrailEvent`. */
  private lookupEvent(e: unknown, at: At, pointer: string, sink: DecodeSink, meta: DecodeMeta): void {
    const inner = isObject(e) ? e.CloudTrailEvent : undefined;
    if (typeof inner !== 'string') {
      recordError(sink, 'missing_field', 'lookup-events entry has no CloudTrailEvent string', e, undefined, at, pointer);
      return;
    }
    const record = parseJson(inner);
    if (record === NOT_JSON) {
      recordError(sink, 'invalid_json', `CloudTrailEvent is not JSON: ${lastJsonError}`, inner, inner, at, pointer);
      return;
    }
    this.record(record, inner, at, pointer, sink, meta);
  }

  private record(r: unknown, text: string | undefined, at: At, pointer: string, sink: DecodeSink, meta: DecodeMeta): void {
    if (!isObject(r)) {
      recordError(
        sink,
        'unrecognized_record',
        `a CloudTrail record must be a JSON object, got ${r === null ? 'null' : Array.isArray(r) ? 'an array' : typeof r}`,
        r,
        text,
        at,
        pointer,
      );
      return;
    }
    const operation = nonEmpty(r.eventName);
    const service = nonEmpty(r.eventSource);
    const eventTime = r.eventTime;
    if (operation === undefined || service === undefined || eventTime === undefined || eventTime === null) {
      const missing: string[] = [];
      if (eventTime === undefined || eventTime === null) missing.push('eventTime');
      if (operation === undefined) missing.push('eventName');
      if (service === undefined) missing.push('eventSource');
      recordError(sink, 'missing_field', `CloudTrail record has no ${missing.join(', ')}`, r, text, at, pointer);
      return;
    }
    const time = parseTimestamp(eventTime);
    if (time === undefined) {
      recordError(sink, 'invalid_timestamp', `eventTime ${brief(eventTime)} is not an ISO 8601 timestamp`, r, text, at, pointer);
      return;
    }
    const actor = actorOf(r.userIdentity);
    const eventId = nonEmpty(r.eventID);
    const event: CloudApiCallEvent = {
      kind: 'cloud_api_call',
      time,
      observedTime: meta.observedTime,
      source: CLOUDTRAIL_FORMAT,
      sourceId: eventId ?? derivedId(pointerLocation(at.loc, pointer), text ?? recordText(r)),
      provider: 'aws',
      service,
      operation,
      actor,
    };
    if (meta.receiver !== undefined) event.receiver = meta.receiver;
    if (at.loc !== undefined) event.location = at.loc;
    event.raw = r;
    const recipient = nonEmpty(r.recipientAccountId);
    if (recipient !== undefined) event.recipientAccountId = recipient;
    const region = nonEmpty(r.awsRegion);
    if (region !== undefined) event.region = region;
    const sourceIp = nonEmpty(r.sourceIPAddress);
    if (sourceIp !== undefined) event.sourceIp = sourceIp;
    const userAgent = str(r.userAgent);
    if (userAgent !== undefined) event.userAgent = userAgent;
    if (r.requestParameters !== undefined && r.requestParameters !== null) event.request = r.requestParameters;
    if (r.responseElements !== undefined && r.responseElements !== null) event.response = r.responseElements;
    const errorCode = nonEmpty(r.errorCode);
    if (errorCode !== undefined) event.errorCode = errorCode;
    const errorMessage = nonEmpty(r.errorMessage);
    if (errorMessage !== undefined) event.errorMessage = errorMessage;
    const readOnly = boolOf(r.readOnly);
    if (readOnly !== undefined) event.readOnly = readOnly;
    const eventType = nonEmpty(r.eventType);
    if (eventType !== undefined) event.eventType = eventType;
    const shared = nonEmpty(r.sharedEventID);
    if (shared !== undefined) event.sharedEventId = shared;
    const resources = resourcesOf(r.resources);
    if (resources !== undefined) event.resources = resources;
    if (actor.accountId !== undefined) event.workload = { account: actor.accountId };
    const attributes = this.attributes(r);
    if (attributes !== undefined) event.attributes = attributes;
    sink.event(event as OutflowEvent);
  }

  /** Fields without a typed slot, under OpenTelemetry names where one exists. */
  private attributes(r: Json): Record<string, AttributeValue> | undefined {
    let a: Record<string, AttributeValue> | undefined;
    const requestId = nonEmpty(r.requestID);
    if (requestId !== undefined) (a ??= {})['aws.request_id'] = requestId;
    const version = nonEmpty(r.eventVersion);
    if (version !== undefined) (a ??= {})['aws.cloudtrail.event_version'] = version;
    const category = nonEmpty(r.eventCategory);
    if (category !== undefined) (a ??= {})['aws.cloudtrail.event_category'] = category;
    const management = boolOf(r.managementEvent);
    if (management !== undefined) (a ??= {})['aws.cloudtrail.management_event'] = management;
    const vpce = nonEmpty(r.vpcEndpointId);
    if (vpce !== undefined) (a ??= {})['aws.cloudtrail.vpc_endpoint_id'] = vpce;
    const identity = r.userIdentity;
    if (isObject(identity) && isObject(identity.sessionContext) && isObject(identity.sessionContext.attributes)) {
      const mfa = boolOf(identity.sessionContext.attributes.mfaAuthenticated);
      if (mfa !== undefined) (a ??= {})['aws.cloudtrail.mfa_authenticated'] = mfa;
    }
    const tls = r.tlsDetails;
    if (isObject(tls)) {
      const host = nonEmpty(tls.clientProvidedHostHeader);
      if (host !== undefined) (a ??= {})['server.address'] = host;
    }
    return a;
  }
}

/** The decoder instance (stateless; share it freely). */
export const cloudTrailDecoder = new CloudTrailDecoder();
