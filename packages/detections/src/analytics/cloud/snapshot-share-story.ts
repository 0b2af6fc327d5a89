import {
  type CloudApiCallEvent,
  type Detection,
  type EventRef,
  eventRef,
  type Finding,
  KeyedState,
  type OutflowEvent,
  ofKind,
  safeMap,
  z,
} from '@outflow/core';
import { filter, Observable } from 'rxjs';
import { type AnalyticEnv, ATTACK, adjustSeverity, defineAnalytic } from '../../analytic.js';
import {
  CheckpointFormatError,
  decodeKeyed,
  decodeRefs,
  expectArray,
  expectNumber,
  expectObject,
  expectString,
  expectStrings,
  snapshotKeyed,
  stateVersion,
} from '../../enrich/checkpoint.js';
import { eventTimeOrdered, OrderBuffer } from '../ordered.js';
import { cloudAttributes, describeActor, externalGrantees, granteeLabel } from './common.js';
import { cloudEventCodec, SNAPSHOT_OPERATIONS, snapshotStep } from './snapshots.js';

const params = z
  .object({
    /** How long a story stays open after its share (event time, ms). Default 7 days. */
    storyTtlMs: z
      .number()
      .int()
      .positive()
      .default(7 * 86_400_000),
    /** Most snapshots followed at once. Default 50 000. */
    maxSnapshots: z.number().int().positive().default(50_000),
    /** Most events held for event-time ordering. Default 10 000. */
    maxBuffer: z.number().int().positive().default(10_000),
    /** Analytics whose alerts about the same snapshot are referenced as members of the story. */
    memberAnalytics: z.array(z.string().min(1)).default(['ebs_snapshot_shared', 'shared_snapshot_consumed']),
  })
  .strict();

interface Step {
  time: number;
  what: string;
  ref: EventRef;
}

interface Story {
  owner: string | undefined;
  sharedAt: number;
  sharedBy: string;
  grantees: Set<string>;
  consumers: Set<string>;
  steps: Step[];
  consumedReported: boolean;
  revokedReported: boolean;
}

const MAX_STEPS = 20;
const MAX_MEMBERS = 20;

/**
 * 18. Snapshot share → consumed by another account → revoked, as one story
 * per snapshot. A finding when an external account consumes a snapshot
 * shared with it (high), and another when the share is then revoked
 * (critical: the sequence of an exfiltration that cleans up after itself).
 * Both carry the same dedup key, so the pipeline folds them into one alert:
 * delivered as `new` at the consume step, then as an `update` (count 2,
 * critical, the full story) when the dedup window closes. Each finding lists
 * the member alerts (share, consume) in `related`. Checkpointed: `stories`
 * (stories and member alert ids, versioned by `storyTtlMs` and
 * `memberAnalytics`) and `order_buffer` (the events held for ordering).
 */
export const snapshotShareStory = defineAnalytic<z.output<typeof params>>({
  id: 'snapshot_share_story',
  title: 'Snapshot shared, consumed externally, then revoked',
  description: 'Follows each EBS snapshot from an external share through its consumption by that account to the revocation of the share.',
  severity: 'high',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1070, ATTACK.T1578_001],
  kinds: ['cloud_api_call'],
  dataSources: ['AWS CloudTrail management events, including AwsServiceEvent records (ec2.amazonaws.com)'],
  dedupKeyDescription: 'owner account + snapshot id',
  status: 'experimental',
  params,
  defaultExceptions: [],
  response: {
    investigate: [
      'Read the story’s steps (explanation.reasons) and the member alerts (related): who shared, which account copied, who revoked.',
      'A revoke right after the copy suggests the actor knew what to clean up: look for other shares and exports by the same principal.',
    ],
    contain: ['Disable the principal that shared and revoked; rotate every secret stored on the volume.'],
    analyse: ['Treat the volume’s data as taken by the consuming account; scope the incident from the volume’s contents.'],
    remediate: ['Block snapshot sharing outside the organisation; alert on every ModifySnapshotAttribute add.'],
  },
  create(env): Detection {
    return {
      id: env.detection.id,
      title: env.detection.title,
      kinds: ['cloud_api_call'],
      connect(events$: Observable<OutflowEvent>, ctx) {
        const p = env.params;
        const stories = new KeyedState<string, Story>({ maxKeys: p.maxSnapshots, ttlMs: p.storyTtlMs });
        const members = new KeyedState<string, string[]>({ maxKeys: p.maxSnapshots, ttlMs: p.storyTtlMs });
        const order = new OrderBuffer<CloudApiCallEvent>({ maxBuffer: p.maxBuffer, onOverflow: () => ctx.metrics.add('late', 1, 'order_buffer_full') });
        ctx.registerState('stories', stories);
        ctx.registerState('members', members);
        ctx.registerState('order_buffer', order);
        ctx.registerCheckpoint('stories', {
          version: stateVersion('snapshot_share_story.stories/1', { storyTtlMs: p.storyTtlMs, memberAnalytics: [...p.memberAnalytics].sort() }),
          snapshot: () => ({ stories: snapshotKeyed(stories, encodeStory), members: snapshotKeyed(members, (ids) => [...ids]) }),
          restore: (state) => {
            const s = expectObject(state, 'snapshot_share_story state');
            const storyEntries = decodeKeyed(s.stories, decodeStory, 'stories');
            const memberEntries = decodeKeyed(s.members, (raw, key) => expectStrings(raw, `members ${key}`), 'members');
            stories.restore(storyEntries);
            members.restore(memberEntries);
          },
        });
        ctx.registerCheckpoint('order_buffer', order.checkpoint(cloudEventCodec));
        const memberIds = new Set(p.memberAnalytics);
        return new Observable<Finding>((subscriber) => {
          const alertSub = ctx.alerts$.subscribe((alert) => {
            if (!memberIds.has(alert.detection.id)) return;
            const snapshot = alert.attributes?.['aws.ec2.snapshot.id'];
            if (typeof snapshot !== 'string') return;
            const list = members.getOrCreate(snapshot, alert.time, () => []);
            if (!list.includes(alert.id) && list.length < MAX_MEMBERS) list.push(alert.id);
          });
          const handle = (event: CloudApiCallEvent): Finding | undefined => storyStep(env, stories, members, event);
          const sub = events$
            .pipe(
              ofKind('cloud_api_call'),
              filter((e) => SNAPSHOT_OPERATIONS.has(e.operation)),
              eventTimeOrdered<CloudApiCallEvent>(ctx.watermark$, { buffer: order }),
              safeMap(handle, (err, event) => ctx.reportError(err, event)),
            )
            .subscribe(subscriber);
          return () => {
            sub.unsubscribe();
            alertSub.unsubscribe();
          };
        });
      },
    };
  },
});

type EncodedStory = Omit<Story, 'owner' | 'grantees' | 'consumers'> & { owner: string | null; grantees: string[]; consumers: string[] };

function encodeStory(s: Story): EncodedStory {
  return {
    owner: s.owner ?? null,
    sharedAt: s.sharedAt,
    sharedBy: s.sharedBy,
    grantees: [...s.grantees],
    consumers: [...s.consumers],
    steps: s.steps.map((st) => ({ time: st.time, what: st.what, ref: { ...st.ref } })),
    consumedReported: s.consumedReported,
    revokedReported: s.revokedReported,
  };
}

function decodeStory(raw: unknown, key: string): Story {
  const v = expectObject(raw, `story ${key}`);
  const steps = expectArray(v.steps, `story ${key}.steps`).map((item, i) => {
    const st = expectObject(item, `story ${key}.steps[${i}]`);
    const [ref] = decodeRefs([st.ref], `story ${key}.steps[${i}].ref`);
    return { time: expectNumber(st.time, `story ${key}.steps[${i}].time`), what: expectString(st.what, `story ${key}.steps[${i}].what`), ref: ref as EventRef };
  });
  if (typeof v.consumedReported !== 'boolean' || typeof v.revokedReported !== 'boolean') throw new CheckpointFormatError(`story ${key} flags are not booleans`);
  return {
    owner: v.owner === null ? undefined : expectString(v.owner, `story ${key}.owner`),
    sharedAt: expectNumber(v.sharedAt, `story ${key}.sharedAt`),
    sharedBy: expectString(v.sharedBy, `story ${key}.sharedBy`),
    grantees: new Set(expectStrings(v.grantees, `story ${key}.grantees`)),
    consumers: new Set(expectStrings(v.consumers, `story ${key}.consumers`)),
    steps,
    consumedReported: v.consumedReported,
    revokedReported: v.revokedReported,
  };
}

function storyStep(
  env: AnalyticEnv<z.output<typeof params>>,
  stories: KeyedState<string, Story>,
  members: KeyedState<string, string[]>,
  event: CloudApiCallEvent,
): Finding | undefined {
  const step = snapshotStep(event);
  if (!step) return undefined;
  stories.expire(event.time);
  members.expire(event.time);
  const actor = describeActor(event.actor);
  const at = new Date(event.time).toISOString();
  const story = stories.peek(step.snapshot);
  if (step.step === 'share') {
    const { external } = externalGrantees(env, step.added, step.owner);
    if (external.length === 0) return undefined;
    const s = story ?? {
      owner: step.owner,
      sharedAt: event.time,
      sharedBy: actor,
      grantees: new Set<string>(),
      consumers: new Set<string>(),
      steps: [],
      consumedReported: false,
      revokedReported: false,
    };
    for (const g of external) s.grantees.add(granteeLabel(g));
    addStep(s, { time: event.time, what: `${at} shared with ${external.map(granteeLabel).join(', ')} by ${actor}`, ref: eventRef(event) });
    stories.set(step.snapshot, s, event.time);
    return undefined;
  }
  if (!story) return undefined;
  stories.get(step.snapshot, event.time);
  if (step.step === 'consume') {
    const consumer = step.consumer;
    if (!consumer || !(story.grantees.has(consumer) || story.grantees.has('all'))) return undefined;
    const cls = env.accounts.classify(consumer, { recipientAccountId: step.owner });
    if (cls === 'ours' || cls === 'partner') return undefined;
    story.consumers.add(consumer);
    const how = event.operation === 'SharedSnapshotCopyInitiated' ? 'copied' : 'turned into a volume';
    addStep(story, { time: event.time, what: `${at} ${how} by account ${consumer}`, ref: eventRef(event) });
    if (story.consumedReported) return undefined;
    story.consumedReported = true;
    return storyFinding(
      env,
      members,
      step.snapshot,
      story,
      event,
      env.severity,
      `EBS snapshot ${step.snapshot} of account ${story.owner} was shared outside the organisation and ${how} by account ${consumer}.`,
    );
  }
  // Revoke: only a story whose snapshot was consumed, and a revoke that takes the permission back from a consumer (or from everyone).
  const removed = new Set(step.removed.map(granteeLabel));
  const hitsConsumer = step.reset || removed.has('all') || [...story.consumers].some((c) => removed.has(c));
  addStep(story, {
    time: event.time,
    what: `${at} share ${step.reset ? 'reset' : `revoked for ${[...removed].join(', ')}`} by ${actor}`,
    ref: eventRef(event),
  });
  if (story.consumers.size === 0 || !hitsConsumer || story.revokedReported) return undefined;
  story.revokedReported = true;
  return storyFinding(
    env,
    members,
    step.snapshot,
    story,
    event,
    adjustSeverity(env.severity, 1),
    `EBS snapshot ${step.snapshot} of account ${story.owner} was shared, copied by account(s) ${[...story.consumers].join(', ')}, then the share was revoked: the sequence of an exfiltration that removes its traces.`,
  );
}

function addStep(story: Story, step: Step): void {
  if (story.steps.length < MAX_STEPS) story.steps.push(step);
}

function storyFinding(
  env: AnalyticEnv<z.output<typeof params>>,
  members: KeyedState<string, string[]>,
  snapshot: string,
  story: Story,
  event: CloudApiCallEvent,
  severity: Finding['severity'],
  summary: string,
): Finding {
  const related = members.peek(snapshot) ?? [];
  return {
    detection: env.detection,
    severity,
    time: event.time,
    evidence: story.steps.map((s) => s.ref),
    dedupKey: `${story.owner ?? ''}|${snapshot}`,
    explanation: {
      summary,
      observed: story.steps.map((s) => s.what).join('; '),
      expected: 'snapshots shared only inside the organisation, and never copied by outside accounts',
      reasons: story.steps.map((s) => s.what),
    },
    attributes: cloudAttributes(event, {
      'aws.ec2.snapshot.id': snapshot,
      'aws.share.grantees': [...story.grantees].sort(),
      'aws.consumer.account_id': [...story.consumers].sort().join(','),
      'aws.story.steps': story.steps.length,
      'aws.story.shared_by': story.sharedBy,
    }),
    tags: ['t1537', 'cloud', 'snapshot', 'story'],
    response: env.response,
    ...(related.length > 0 ? { related: [...related] } : {}),
    ...(event.workload ? { workload: event.workload } : {}),
  };
}
