export { FALCO_FORMAT, FalcoDecoder, falcoDecoder } from './decoder.js';
export { formats, sniffFalco } from './formats.js';
export { FALCO_HTTP_PORT, type FalcoConfig, type FalcoConfigInput, FalcoReceiver, falco, falcoSchema } from './receiver.js';
