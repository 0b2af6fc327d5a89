export { CidrSet, DEFAULT_INTERNAL_CIDRS } from './cidr.js';
export * from './decoder.js';
export * from './encoder.js';
export * from './format.js';
export { ELEMENTS, type ElementInfo, REVERSE_ELEMENTS, REVERSE_PEN } from './ie.js';
export * from './receiver.js';
export { VARIABLE_LENGTH } from './templates.js';
