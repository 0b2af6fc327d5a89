import { type CloudApiCallEvent, type EventRef, eventRef, type KeyedState } from '@outflow/core';
import {
  CheckpointFormatError,
  decodeKeyed,
  decodeRefs,
  encodeRefs,
  expectNumber,
  expectObject,
  expectString,
  expectStrings,
  type KeyedEntry,
  snapshotKeyed,
} from '../../enrich/checkpoint.js';
import { path, str } from '../../util/json.js';
import { type Grantee, granteeLabel, permissionChanges, resourceOwner, succeeded } from './common.js';

/** CloudTrail service events written to the owner's account when another account uses a shared EBS snapshot. */
export const CONSUME_OPERATIONS: ReadonlySet<string> = new Set(['SharedSnapshotCopyInitiated', 'SharedSnapshotVolumeCreated']);

/** Every operation `snapshotStep` looks at. */
export const SNAPSHOT_OPERATIONS: ReadonlySet<string> = new Set(['ModifySnapshotAttribute', 'ResetSnapshotAttribute', ...CONSUME_OPERATIONS]);

const SNAPSHOT_ARN = /snapshot\/(snap-[0-9a-z]+)/;

/** The snapshot an EC2 snapshot event is about: request `snapshotId`, `serviceEventDetails.snapshotId`, or a snapshot ARN in `resources`. */
export function snapshotIdOf(event: CloudApiCallEvent): string | undefined {
  const fromRequest = str(path(event.request, 'snapshotId'));
  if (fromRequest) return fromRequest;
  const fromDetails = str(path(event.raw, 'serviceEventDetails', 'snapshotId'));
  if (fromDetails) return fromDetails;
  for (const r of event.resources ?? []) {
    const m = r.arn ? SNAPSHOT_ARN.exec(r.arn) : null;
    if (m) return m[1];
  }
  return undefined;
}

/** What one snapshot event means for the story of a share. */
export type SnapshotStep =
  | { step: 'share'; snapshot: string; owner: string | undefined; added: Grantee[]; event: CloudApiCallEvent }
  | { step: 'revoke'; snapshot: string; owner: string | undefined; removed: Grantee[]; reset: boolean; event: CloudApiCallEvent }
  | { step: 'consume'; snapshot: string; owner: string | undefined; consumer: string | undefined; event: CloudApiCallEvent };

/** Classify an EBS snapshot event: a share (permissions added), a revoke (removed, or reset), a consume (service event), or nothing. */
export function snapshotStep(event: CloudApiCallEvent): SnapshotStep | undefined {
  if (event.kind !== 'cloud_api_call' || !succeeded(event)) return undefined;
  const op = event.operation;
  if (op !== 'ModifySnapshotAttribute' && op !== 'ResetSnapshotAttribute' && !CONSUME_OPERATIONS.has(op)) return undefined;
  const snapshot = snapshotIdOf(event);
  if (!snapshot) return undefined;
  const owner = resourceOwner(event);
  if (CONSUME_OPERATIONS.has(op)) return { step: 'consume', snapshot, owner, consumer: event.actor.accountId, event };
  if (op === 'ResetSnapshotAttribute') {
    const attribute = str(path(event.request, 'attribute')) ?? str(path(event.request, 'attributeType')) ?? '';
    if (!/create_?volume_?permission/i.test(attribute)) return undefined;
    return { step: 'revoke', snapshot, owner, removed: [], reset: true, event };
  }
  const { added, removed } = permissionChanges(event.request, 'createVolumePermission');
  if (added.length > 0) return { step: 'share', snapshot, owner, added, event };
  if (removed.length > 0) return { step: 'revoke', snapshot, owner, removed, reset: false, event };
  return undefined;
}

/** A share as remembered by the stateful snapshot analytics. */
export interface ShareRecord {
  time: number;
  actor: string;
  /** Grantees currently holding the permission (labels: account ids, `all`, org ids). */
  grantees: Set<string>;
  refs: EventRef[];
}

/** Apply a share or revoke step to the remembered share of a snapshot. */
export function applyShareStep(record: ShareRecord | undefined, step: SnapshotStep, actor: string): ShareRecord | undefined {
  if (step.step === 'share') {
    const r = record ?? { time: step.event.time, actor, grantees: new Set<string>(), refs: [] };
    for (const g of step.added) r.grantees.add(granteeLabel(g));
    if (r.refs.length < 10) r.refs.push(eventRef(step.event));
    return r;
  }
  if (step.step === 'revoke' && record) {
    if (step.reset) record.grantees.clear();
    else for (const g of step.removed) record.grantees.delete(granteeLabel(g));
  }
  return record;
}

/** The remembered shares of a snapshot analytic, as plain data. */
export function encodeShares(shares: KeyedState<string, ShareRecord>): KeyedEntry<{ time: number; actor: string; grantees: string[]; refs: EventRef[] }>[] {
  return snapshotKeyed(shares, (r) => ({ time: r.time, actor: r.actor, grantees: [...r.grantees], refs: encodeRefs(r.refs) }));
}

export function decodeShares(state: unknown): KeyedEntry<ShareRecord>[] {
  return decodeKeyed(
    state,
    (raw, key) => {
      const v = expectObject(raw, `share ${key}`);
      return {
        time: expectNumber(v.time, `share ${key}.time`),
        actor: expectString(v.actor, `share ${key}.actor`),
        grantees: new Set(expectStrings(v.grantees, `share ${key}.grantees`)),
        refs: decodeRefs(v.refs, `share ${key}.refs`),
      };
    },
    'shares',
  );
}

/** Held CloudTrail events, for order buffers: written as they are (plain JSON), checked when read back. */
export const cloudEventCodec = {
  decode(raw: unknown): CloudApiCallEvent {
    const e = expectObject(raw, 'held event');
    if (e.kind !== 'cloud_api_call' || typeof e.operation !== 'string' || typeof e.time !== 'number' || typeof e.actor !== 'object' || e.actor === null)
      throw new CheckpointFormatError('a held event is not a cloud API call');
    return e as unknown as CloudApiCallEvent;
  },
};
