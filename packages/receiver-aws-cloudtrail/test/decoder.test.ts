import { type CloudApiCallEvent, decodeAll } from '@outflow/core';
import { decodeAs, goldenOf } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { cloudTrailDecoder } from '../src/index.js';
import { fixture, OBSERVED } from './helpers.js';

function decodeRecords(text: string, meta: { location?: string; line?: number } = {}) {
  return decodeAll(cloudTrailDecoder, text, { observedTime: OBSERVED, ...meta }) as {
    events: CloudApiCallEvent[];
    errors: ReturnType<typeof decodeAll>['errors'];
  };
}

describe('aws_cloudtrail decoder: normalization', () => {
  it('maps every kept field of a Stratus Red Team ModifySnapshotAttribute record', () => {
    const { events, errors } = decodeRecords(fixture('stratus-aws.exfiltration.ec2-share-ebs-snapshot.json'), { location: 'snap.json' });
    expect(errors).toEqual([]);
    const e = events[0] as CloudApiCallEvent;
    const record = (JSON.parse(fixture('stratus-aws.exfiltration.ec2-share-ebs-snapshot.json')) as unknown[])[0];
    expect(e).toEqual({
      kind: 'cloud_api_call',
      time: Date.UTC(2024, 7, 1, 12, 28, 2),
      observedTime: OBSERVED,
      source: 'aws_cloudtrail',
      sourceId: '6897ff63-d738-445c-9e86-43e5b1f8e12f',
      location: 'snap.json',
      raw: record,
      provider: 'aws',
      service: 'ec2.amazonaws.com',
      operation: 'ModifySnapshotAttribute',
      actor: {
        type: 'IAMUser',
        accountId: '756680937392',
        principalId: 'AIDA7ETKRIUXU83QKECM',
        arn: 'arn:aws:iam::756680937392:user/christophe',
        userName: 'christophe',
        accessKeyId: 'AKIAYLJU0B35TFSNKCS2',
      },
      recipientAccountId: '756680937392',
      region: 'me-central-3r',
      sourceIp: '253.76.43.253',
      userAgent: 'stratus-red-team_7fcd50f2-f1da-4c82-bb7d-38b82021b080',
      request: {
        attributeType: 'CREATE_VOLUME_PERMISSION',
        createVolumePermission: { add: { items: [{ userId: '098797384747' }] } },
        snapshotId: 'snap-041993b54a9b3af6f',
      },
      response: { _return: true, requestId: 'aeddc4a7-2043-405e-8b19-5a913367249e' },
      readOnly: false,
      eventType: 'AwsApiCall',
      workload: { account: '756680937392' },
      attributes: {
        'aws.request_id': 'aeddc4a7-2043-405e-8b19-5a913367249e',
        'aws.cloudtrail.event_version': '1.09',
        'aws.cloudtrail.event_category': 'Management',
        'aws.cloudtrail.management_event': true,
        'server.address': 'ec2.me-central-3r.amazonaws.com',
      },
    });
  });

  it('keeps the session issuer of assumed roles, resources, errors, sharedEventID and string readOnly', () => {
    const record = {
      eventTime: '2024-06-05T08:00:00Z',
      eventSource: 's3.amazonaws.com',
      eventName: 'CopyObject',
      eventID: 'e1',
      userIdentity: {
        type: 'AssumedRole',
        invokedBy: 'AWS Internal',
        sessionContext: { sessionIssuer: { arn: 'arn:aws:iam::111122223333:role/r' }, attributes: { mfaAuthenticated: 'true' } },
      },
      errorCode: 'AccessDenied',
      errorMessage: 'Access Denied',
      readOnly: 'false',
      sharedEventID: 's1',
      vpcEndpointId: 'vpce-1',
      resources: [{ type: 'AWS::S3::Object', ARN: 'arn:aws:s3:::b/k', accountId: '999988887777' }, 'junk', { arn: 'arn:aws:s3:::b2' }],
    };
    const [e] = decodeRecords(JSON.stringify(record)).events;
    expect(e).toMatchObject({
      actor: { type: 'AssumedRole', invokedBy: 'AWS Internal', sessionIssuerArn: 'arn:aws:iam::111122223333:role/r' },
      errorCode: 'AccessDenied',
      errorMessage: 'Access Denied',
      readOnly: false,
      sharedEventId: 's1',
      resources: [{ type: 'AWS::S3::Object', arn: 'arn:aws:s3:::b/k', accountId: '999988887777' }, { arn: 'arn:aws:s3:::b2' }],
      attributes: { 'aws.cloudtrail.vpc_endpoint_id': 'vpce-1', 'aws.cloudtrail.mfa_authenticated': true },
    });
  });

  it('derives a deterministic id for records without eventID, different per position', () => {
    const text = JSON.stringify({
      Records: [
        { eventTime: '2024-06-05T08:00:00Z', eventSource: 's3.amazonaws.com', eventName: 'ListBuckets' },
        { eventTime: '2024-06-05T08:00:00Z', eventSource: 's3.amazonaws.com', eventName: 'ListBuckets' },
      ],
    });
    const a = decodeRecords(text, { location: 'x.json' }).events;
    const b = decodeRecords(text, { location: 'x.json' }).events;
    expect(a.map((e) => e.sourceId)).toEqual(b.map((e) => e.sourceId));
    expect(a[0]?.sourceId).toMatch(/^[0-9a-f]{32}$/);
    expect(a[0]?.sourceId).not.toBe(a[1]?.sourceId);
  });

  it('reports missing and invalid required fields by name', () => {
    const { events, errors } = decodeRecords(JSON.stringify({ Records: [{ eventName: 'X' }, { eventTime: 'soon', eventName: 'X', eventSource: 'y' }] }));
    expect(events).toEqual([]);
    expect(errors.map((e) => [e.reason, e.location])).toEqual([
      ['missing_field', '/Records/0'],
      ['invalid_timestamp', '/Records/1'],
    ]);
    expect(errors[0]?.message).toBe('CloudTrail record has no eventTime, eventSource');
    expect(JSON.parse(errors[0]?.raw as string)).toEqual({ eventName: 'X' });
  });
});

describe('aws_cloudtrail decoder: shapes', () => {
  it('unwraps EventBridge envelopes of any "via CloudTrail" detail-type and rejects other detail-types', () => {
    const lines = fixture('eventbridge.jsonl').trim().split('\n');
    expect(decodeRecords(lines[0] as string).events[0]).toMatchObject({
      operation: 'ModifySnapshotAttribute',
      sourceId: '2d4f6a8c-0e1f-4a3b-8c5d-7e9f1a3b5c7d',
    });
    expect(decodeRecords(lines[1] as string).events[0]).toMatchObject({ operation: 'ConsoleLogin', eventType: 'AwsConsoleSignIn' });
    expect(decodeRecords(lines[2] as string).errors[0]?.reason).toBe('unsupported_record');
  });

  it('reads lookup-events output through its CloudTrailEvent strings', () => {
    const { events, errors } = decodeRecords(fixture('lookup-events.json'));
    expect(events.map((e) => e.operation)).toEqual(['ModifyDBSnapshotAttribute']);
    expect(events[0]?.request).toEqual({ dBSnapshotIdentifier: 'orders-nightly-2024-06-04', attributeName: 'restore', valuesToAdd: ['999988887777'] });
    expect(errors.map((e) => [e.reason, e.location])).toEqual([['missing_field', '/Events/1']]);
  });

  it('decodes a JSON-lines file given as a document exactly as line by line', () => {
    for (const file of ['panther-cloudtrail.jsonl', 'eventbridge.jsonl', 'malformed.jsonl']) {
      const lines = decodeAs(cloudTrailDecoder, fixture(file), 'lines', { location: file, observedTime: OBSERVED });
      const doc = decodeAs(cloudTrailDecoder, fixture(file), 'document', { location: file, observedTime: OBSERVED });
      expect(goldenOf({ events: doc.events, errors: [] })).toEqual(goldenOf({ events: lines.events, errors: [] }));
      expect(doc.errors.map((e) => e.reason)).toEqual(lines.errors.map((e) => e.reason));
    }
  });

  it('decodes concatenated delivery documents (Firehose to S3) and reports a broken pretty-printed file once', () => {
    const one = JSON.stringify(JSON.parse(fixture('delivery-ec2-share-ebs-snapshot.json')));
    expect(decodeRecords(one + one + one).events).toHaveLength(3);
    const broken = fixture('stratus-aws.exfiltration.ec2-share-ami.json').slice(0, -30);
    const { events, errors } = decodeRecords(broken);
    expect(events).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.reason).toBe('invalid_json');
  });
});
