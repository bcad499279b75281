import { randomBytes } from 'node:crypto';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

// Ids are cut from a pool of random bytes refilled 4 KiB at a time: one randomBytes call per call is
// a syscall-sized cost on the hot path.
const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let offset = 0;
function randomHex(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}

/**
 * A W3C traceparent for the upstream call that continues the worker's trace (or starts one),
 * with a fresh span id as parent. Replaced by the OTel context when tracing is set up.
 */
export function continueTrace(incoming: string | string[] | undefined): {
  traceId: string;
  spanId: string;
  header: string;
} {
  const m = typeof incoming === 'string' ? TRACEPARENT.exec(incoming.trim()) : null;
  const traceId = m && m[1] !== '0'.repeat(32) ? m[1]! : randomHex(16);
  const spanId = randomHex(8);
  const flags = m ? m[3]! : '01';
  return { traceId, spanId, header: `00-${traceId}-${spanId}-${flags}` };
}
