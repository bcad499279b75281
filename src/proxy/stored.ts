import { bodyBytes, paced, type Recording } from '../recording/index.js';
import type { Exchange } from './exchange.js';
import { headerCopy, type Reply } from './reply.js';

/**
 * Stage 4, a stored answer's side (a recording in REPLAY, a cache hit): the recorded status, headers
 * and body, a stream's events re-paced as recorded (or at MOCK_STREAM_CHUNK_DELAY_MS when set).
 * It then goes through delivery like any answer, so it is metered from the usage it carries.
 */
export function storedReply(x: Exchange, r: Recording): Reply {
  const headers = headerCopy(r.headers);
  if ('events' in r.body) {
    return {
      status: r.status,
      headers,
      body: paced(r.body.events, x.cfg.mock.streamChunkDelayMs, x.cancel.mockSignal()),
    };
  }
  return { status: r.status, headers, body: bodyBytes(r.body) };
}
