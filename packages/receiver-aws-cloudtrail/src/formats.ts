import type { FormatDefinition } from '@outflow/core';
import { CLOUDTRAIL_FORMAT, cloudTrailDecoder } from './decoder.js';

/**
 * Confidence that `head` (the first 64 KiB of a file) holds CloudTrail records
 * in one of the shapes the decoder reads. Substring checks only, so a head cut
 * mid-record still scores.
 */
export function sniffCloudTrail(head: string): number {
  const source = head.includes('"eventSource"');
  const name = head.includes('"eventName"');
  if (head.includes('"Records"') && source && name) return 0.95;
  if (head.includes('"detail-type"') && head.includes('via CloudTrail')) return 0.9;
  if (source && name && head.includes('"eventTime"') && (head.includes('"eventVersion"') || head.includes('"userIdentity"'))) return 0.9;
  if (head.includes('"CloudTrailEvent"')) return 0.8;
  if (source && name && head.includes('.amazonaws.com')) return 0.6;
  return 0;
}

/** `aws_cloudtrail`: delivery files, single records, EventBridge envelopes, lookup-events output; whole documents by default. */
export const cloudTrailFormat: FormatDefinition<string> = {
  name: CLOUDTRAIL_FORMAT,
  description:
    'AWS CloudTrail: delivery files {"Records":[...]} (.json, .json.gz), arrays and single records, EventBridge "AWS API Call via CloudTrail" envelopes, lookup-events output, and JSON lines of any of these',
  framing: 'document',
  decoder: cloudTrailDecoder,
  sniff: sniffCloudTrail,
};

/** The formats of this package, for the CLI and format auto-detection. */
export const formats: FormatDefinition[] = [cloudTrailFormat];
