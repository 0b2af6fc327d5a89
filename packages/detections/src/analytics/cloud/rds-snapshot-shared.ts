import { ATTACK, adjustSeverity, analyticRule, defineAnalytic } from '../../analytic.js';
import { asArray, isObject, str } from '../../util/json.js';
import { cloudFinding, describeActor, externalGrantees, type Grantee, labels, resourceOwner, succeeded } from './common.js';

const OPERATIONS = new Set(['ModifyDBSnapshotAttribute', 'ModifyDBClusterSnapshotAttribute']);

/**
 * 3. An RDS DB or cluster snapshot's `restore` attribute gains an account we
 * do not own, or `all` (public).
 */
export const rdsSnapshotShared = defineAnalytic({
  id: 'rds_snapshot_shared',
  title: 'RDS snapshot shared with an external account',
  description: 'ModifyDBSnapshotAttribute / ModifyDBClusterSnapshotAttribute adds restore permission for an account outside the organisation, or for all.',
  severity: 'high',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1578_001],
  kinds: ['cloud_api_call'],
  dataSources: ['AWS CloudTrail management events (rds.amazonaws.com)'],
  dedupKeyDescription: 'owner account + snapshot identifier + external grantees',
  status: 'test',
  defaultExceptions: [
    {
      id: 'aws-backup-cross-account-copy',
      match: {
        'attributes.user.id': { glob: 'arn:aws:sts::*:assumed-role/AWSServiceRoleForBackup/*' },
        'attributes.aws.share.public': 'false',
      },
      reason: 'AWS Backup cross-account copy jobs share snapshots with the destination vault account, which must be in the same AWS Organization.',
      owner: 'outflow',
    },
  ],
  response: {
    investigate: [
      'Confirm who made the call and whether a change ticket covers it; check the target accounts (aws.share.grantees).',
      'In the target account (if reachable) or with AWS support, look for CopyDBSnapshot / RestoreDBInstanceFromDBSnapshot of this snapshot.',
    ],
    contain: [
      'Remove the permission: aws rds modify-db-snapshot-attribute --db-snapshot-identifier <id> --attribute-name restore --values-to-remove <account>.',
      'Revoke the credentials used if the actor is not recognised.',
    ],
    analyse: ['Identify the database and the data classes in the snapshot; assume a copy was taken if the share lasted more than a few minutes.'],
    remediate: [
      'Encrypt snapshots with customer-managed KMS keys whose policy allows no foreign accounts; restrict rds:ModifyDB*SnapshotAttribute with an SCP.',
    ],
  },
  create(env) {
    return analyticRule(env, {
      kinds: ['cloud_api_call'],
      match(event) {
        if (!OPERATIONS.has(event.operation) || !succeeded(event) || !isObject(event.request)) return undefined;
        const req = event.request;
        if (str(req.attributeName) !== 'restore') return undefined;
        const added: Grantee[] = asArray(req.valuesToAdd)
          .map((v) => str(v))
          .filter((v): v is string => v === 'all' || (v !== undefined && /^\d{12}$/.test(v)))
          .map((v) => (v === 'all' ? { kind: 'public' as const } : { kind: 'account' as const, id: v }));
        if (added.length === 0) return undefined;
        const owner = resourceOwner(event);
        const { external, public: pub } = externalGrantees(env, added, owner);
        if (external.length === 0) return undefined;
        const cluster = event.operation === 'ModifyDBClusterSnapshotAttribute';
        const snapshot = str(req.dBSnapshotIdentifier) ?? str(req.dBClusterSnapshotIdentifier) ?? 'unknown-snapshot';
        const grantees = labels(external);
        const what = cluster ? 'RDS cluster snapshot' : 'RDS snapshot';
        return cloudFinding(event, {
          severity: pub ? adjustSeverity(env.severity, 1) : env.severity,
          dedupKey: `${owner ?? ''}|${snapshot}|${grantees.join(',')}`,
          summary: pub
            ? `${what} ${snapshot} of account ${owner} was made public: any AWS account can restore the database from it.`
            : `${what} ${snapshot} of account ${owner} was shared with ${grantees.join(', ')}, outside the organisation: that account can restore a full copy of the database.`,
          observed: `${describeActor(event.actor)} called ${event.operation} with attributeName=restore, valuesToAdd=${grantees.join(', ')}`,
          expected: 'database snapshots shared only with the organisation’s accounts or trusted partners',
          reasons: [pub ? 'value "all" makes the snapshot public' : `account(s) ${grantees.join(', ')} are neither ours nor trusted partners`],
          attributes: { 'aws.rds.snapshot.id': snapshot, 'aws.share.grantees': grantees, 'aws.share.public': pub, 'db.system': 'rds' },
          tags: ['snapshot', 'share', 'database'],
        });
      },
    });
  },
});
