export { TETRAGON_FORMAT, TetragonDecoder, type TetragonDecoderOptions, tetragonDecoder } from './decoder.js';
export { formats, sniffTetragon } from './formats.js';
export { type TetragonConfig, type TetragonConfigInput, TetragonReceiver, tetragon, tetragonSchema } from './receiver.js';
