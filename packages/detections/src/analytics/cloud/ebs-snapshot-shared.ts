import { ATTACK, adjustSeverity, analyticRule, defineAnalytic } from '../../analytic.js';
import { str } from '../../util/json.js';
import { cloudFinding, describeActor, externalGrantees, labels, permissionChanges, resourceOwner, succeeded } from './common.js';

/**
 * 1. An EBS snapshot's `createVolumePermission` is opened to an account we do
 * not own, or to everyone (`group: all`, critical). Removals and failed calls
 * are not findings.
 */
export const ebsSnapshotShared = defineAnalytic({
  id: 'ebs_snapshot_shared',
  title: 'EBS snapshot shared with an external account',
  description: 'ModifySnapshotAttribute adds createVolumePermission for an account outside the organisation, or for everyone.',
  severity: 'high',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1578_001],
  kinds: ['cloud_api_call'],
  dataSources: ['AWS CloudTrail management events (ec2.amazonaws.com)'],
  dedupKeyDescription: 'owner account + snapshot id + external grantees',
  status: 'test',
  defaultExceptions: [
    {
      id: 'aws-backup-cross-account-copy',
      match: {
        'attributes.user.id': { glob: 'arn:aws:sts::*:assumed-role/AWSServiceRoleForBackup/*' },
        'attributes.aws.share.public': 'false',
      },
      reason:
        'AWS Backup cross-account copy jobs share recovery points with the destination vault account, which AWS Backup requires to be in the same AWS Organization.',
      owner: 'outflow',
    },
  ],
  response: {
    investigate: [
      'Confirm who made the call (user.id, source.address, user_agent.original) and whether a change ticket covers it.',
      'Check the target accounts (aws.share.grantees) against the organisation and partner lists.',
      'Look for SharedSnapshotCopyInitiated / SharedSnapshotVolumeCreated events for this snapshot (analytic shared_snapshot_consumed).',
    ],
    contain: [
      'Remove the permission: aws ec2 modify-snapshot-attribute --snapshot-id <id> --attribute createVolumePermission --operation-type remove --user-ids <account>.',
      'Enable EBS snapshot block public access in the region and revoke the credentials used if the actor is not recognised.',
    ],
    analyse: ['Identify the volume and instance behind the snapshot and the data it holds; decide whether a copy was taken.'],
    remediate: ['Restrict ec2:ModifySnapshotAttribute with an SCP; encrypt snapshots with customer-managed KMS keys whose policy blocks foreign accounts.'],
  },
  create(env) {
    return analyticRule(env, {
      kinds: ['cloud_api_call'],
      match(event) {
        if (event.operation !== 'ModifySnapshotAttribute' || !succeeded(event)) return undefined;
        const { added } = permissionChanges(event.request, 'createVolumePermission');
        if (added.length === 0) return undefined;
        const owner = resourceOwner(event);
        const { external, public: pub } = externalGrantees(env, added, owner);
        if (external.length === 0) return undefined;
        const snapshot = str((event.request as { snapshotId?: unknown }).snapshotId) ?? 'unknown-snapshot';
        const grantees = labels(external);
        const severity = pub ? adjustSeverity(env.severity, 1) : env.severity;
        return cloudFinding(event, {
          severity,
          dedupKey: `${owner ?? ''}|${snapshot}|${grantees.join(',')}`,
          summary: pub
            ? `EBS snapshot ${snapshot} of account ${owner} was made public: any AWS account can create a volume from it and read its data.`
            : `EBS snapshot ${snapshot} of account ${owner} was shared with ${grantees.join(', ')}, outside the organisation: that account can copy the disk and read its data.`,
          observed: `${describeActor(event.actor)} called ModifySnapshotAttribute adding createVolumePermission for ${grantees.join(', ')}`,
          expected: 'snapshots shared only with the organisation’s accounts or trusted partners',
          reasons: [pub ? 'group "all" makes the snapshot public' : `account(s) ${grantees.join(', ')} are neither ours nor trusted partners`],
          attributes: {
            'aws.ec2.snapshot.id': snapshot,
            'aws.share.grantees': grantees,
            'aws.share.public': pub,
          },
          tags: ['snapshot', 'share'],
        });
      },
    });
  },
});
