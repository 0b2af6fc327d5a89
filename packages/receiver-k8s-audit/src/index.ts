export {
  AUDIT_STAGES,
  type AuditStage,
  clusterFromLogGroup,
  K8S_AUDIT_FORMAT,
  K8sAuditDecoder,
  k8sAuditDecoder,
  objectRefFromResourceName,
  StageFilterDecoder,
  UNKNOWN_STAGE,
} from './decoder.js';
export { formats, k8sAuditFormat, sniffK8sAudit } from './formats.js';
export { createK8sAuditReceiver, type K8sAuditConfig, type K8sAuditConfigInput, type K8sAuditReceiver, k8sAudit, k8sAuditConfigSchema } from './receiver.js';
