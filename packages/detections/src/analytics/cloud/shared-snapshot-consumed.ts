import { type CloudApiCallEvent, type Detection, eventRef, type Finding, KeyedState, type OutflowEvent, ofKind, safeMap, z } from '@outflow/core';
import { filter, type Observable } from 'rxjs';
import { ATTACK, defineAnalytic } from '../../analytic.js';
import { stateVersion } from '../../enrich/checkpoint.js';
import { eventTimeOrdered, OrderBuffer } from '../ordered.js';
import { cloudAttributes, describeActor } from './common.js';
import { applyShareStep, cloudEventCodec, decodeShares, encodeShares, type ShareRecord, SNAPSHOT_OPERATIONS, snapshotStep } from './snapshots.js';

const params = z
  .object({
    /** How long a share is remembered for correlation (event time, ms). Default 30 days. */
    shareTtlMs: z
      .number()
      .int()
      .positive()
      .default(30 * 86_400_000),
    /** Most snapshots remembered. Default 50 000. */
    maxSnapshots: z.number().int().positive().default(50_000),
    /** Most events held for event-time ordering. Default 10 000. */
    maxBuffer: z.number().int().positive().default(10_000),
  })
  .strict();

/**
 * 4. Another account copied a shared EBS snapshot or created a volume from
 * it (`SharedSnapshotCopyInitiated`, `SharedSnapshotVolumeCreated`, logged in
 * the owner's account), correlated with the share that enabled it. Stateful:
 * shares are kept per snapshot (KeyedState, cap + TTL in event time) and
 * events are handled in event-time order behind the watermark. Checkpointed:
 * `shares` (versioned by `shareTtlMs`) and `order_buffer` (the events held
 * for ordering).
 */
export const sharedSnapshotConsumed = defineAnalytic<z.output<typeof params>>({
  id: 'shared_snapshot_consumed',
  title: 'Shared EBS snapshot consumed by an external account',
  description: 'SharedSnapshotCopyInitiated / SharedSnapshotVolumeCreated where the consuming account is not ours, joined to the share that enabled it.',
  severity: 'high',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1530],
  kinds: ['cloud_api_call'],
  dataSources: ['AWS CloudTrail management events, including AwsServiceEvent records (ec2.amazonaws.com)'],
  dedupKeyDescription: 'owner account + snapshot id + consuming account',
  status: 'experimental',
  params,
  defaultExceptions: [],
  response: {
    investigate: [
      'Identify the consuming account (aws.consumer.account_id) and whether anyone in the organisation knows it.',
      'Find the share that enabled the copy (evidence, ebs_snapshot_shared alerts) and who made it.',
    ],
    contain: [
      'Remove the createVolumePermission for the consuming account at once; the copy already taken cannot be recalled.',
      'Rotate every secret the volume held (database passwords, keys, tokens in files).',
    ],
    analyse: ['Treat the volume’s data as disclosed: list the data classes on it and start the incident process for them.'],
    remediate: ['Block snapshot sharing outside the organisation (SCP on ec2:ModifySnapshotAttribute, EBS snapshot block public access).'],
  },
  create(env): Detection {
    const { params: p } = env;
    return {
      id: env.detection.id,
      title: env.detection.title,
      kinds: ['cloud_api_call'],
      connect(events$: Observable<OutflowEvent>, ctx) {
        const shares = new KeyedState<string, ShareRecord>({ maxKeys: p.maxSnapshots, ttlMs: p.shareTtlMs });
        const order = new OrderBuffer<CloudApiCallEvent>({ maxBuffer: p.maxBuffer, onOverflow: () => ctx.metrics.add('late', 1, 'order_buffer_full') });
        ctx.registerState('shares', shares);
        ctx.registerState('order_buffer', order);
        ctx.registerCheckpoint('shares', {
          version: stateVersion('shared_snapshot_consumed.shares/1', { shareTtlMs: p.shareTtlMs }),
          snapshot: () => encodeShares(shares),
          restore: (state) => shares.restore(decodeShares(state)),
        });
        ctx.registerCheckpoint('order_buffer', order.checkpoint(cloudEventCodec));
        const handle = (event: CloudApiCallEvent): Finding | undefined => {
          const step = snapshotStep(event);
          if (!step) return undefined;
          shares.expire(event.time);
          if (step.step !== 'consume') {
            const next = applyShareStep(shares.peek(step.snapshot), step, describeActor(event.actor));
            if (next) shares.set(step.snapshot, next, event.time);
            return undefined;
          }
          const consumer = step.consumer;
          if (!consumer) return undefined;
          const cls = env.accounts.classify(consumer, { recipientAccountId: step.owner });
          if (cls === 'ours' || cls === 'partner') return undefined;
          const share = shares.get(step.snapshot, event.time);
          const enabled = share && (share.grantees.has(consumer) || share.grantees.has('all'));
          const how = event.operation === 'SharedSnapshotCopyInitiated' ? 'started a copy of' : 'created a volume from';
          const reasons = [
            enabled
              ? `enabled by the share at ${new Date(share.time).toISOString()} by ${share.actor} (${[...share.grantees].join(', ')})`
              : 'the share that enabled it was not seen (older than the retention, or outside the logs read)',
          ];
          const evidence = [...(enabled ? share.refs : []), eventRef(event)];
          return {
            detection: env.detection,
            severity: env.severity,
            time: event.time,
            evidence,
            dedupKey: `${step.owner ?? ''}|${step.snapshot}|${consumer}`,
            explanation: {
              summary: `Account ${consumer} ${how} EBS snapshot ${step.snapshot} of account ${step.owner}: the disk’s data has left the organisation.`,
              observed: `${event.operation} for ${step.snapshot} by account ${consumer}`,
              expected: 'shared snapshots used only by the organisation’s accounts or trusted partners',
              reasons,
            },
            attributes: cloudAttributes(event, {
              'aws.ec2.snapshot.id': step.snapshot,
              'aws.consumer.account_id': consumer,
              'aws.share.correlated': Boolean(enabled),
            }),
            tags: ['t1537', 'cloud', 'snapshot', 'consume'],
            response: env.response,
            ...(event.workload ? { workload: event.workload } : {}),
          };
        };
        return events$.pipe(
          ofKind('cloud_api_call'),
          filter((e) => SNAPSHOT_OPERATIONS.has(e.operation)),
          eventTimeOrdered<CloudApiCallEvent>(ctx.watermark$, { buffer: order }),
          safeMap(handle, (err, event) => ctx.reportError(err, event)),
        );
      },
    };
  },
});
