/**
 * Recordings of provider answers: how a request is keyed, the file format, the folder they live in,
 * the tap that copies an answer as it streams by, and the playback of a recorded stream. The proxy
 * records (RECORD), replays (REPLAY) and caches (RESPONSE_CACHE_TTL_S) with these.
 */
export { capture } from './capture.js';
export { CASSETTES_USAGE, cassettesCommand, instantOf } from './cli.js';
export {
  bodyBytes,
  bodyOf,
  clientHeaders,
  deserialize,
  FORMAT_VERSION,
  type RecordedAnswer,
  type RecordedBody,
  type RecordedEvent,
  type Recording,
  redact,
  serialize,
} from './format.js';
export {
  type CanonicalRequest,
  credentialTag,
  type KeyInput,
  type RequestKey,
  repeatable,
  requestKey,
  sortedJson,
} from './key.js';
export { paced } from './pace.js';
export { type CassetteEntry, CassetteStore, type PruneRule } from './store.js';
