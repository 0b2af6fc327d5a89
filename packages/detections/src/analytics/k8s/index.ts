export { execPayload } from './exec-payload.js';
export { kubectlCp, readArchiveCall } from './kubectl-cp.js';
export { podExec } from './pod-exec.js';
export { secretHarvesting } from './secret-harvesting.js';
export { untrustedImageSensitiveAccess } from './untrusted-image.js';
