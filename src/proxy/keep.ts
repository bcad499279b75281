import type { Readable } from 'node:stream';
import {
  CassetteStore,
  capture,
  clientHeaders,
  type RecordedBody,
  type Recording,
  serialize,
} from '../recording/index.js';
import type { Exchange } from './exchange.js';
import { contentType, headerValue } from './media.js';
import type { Keep } from './recall.js';
import type { Reply } from './reply.js';

/** Every secret this call could know: the sidecar's keys, the admin token, the worker's own credentials. */
function secretsOf(x: Exchange): string[] {
  const out: string[] = [];
  for (const p of Object.values(x.cfg.providers)) if (p.apiKey !== undefined) out.push(p.apiKey);
  if (x.cfg.adminToken !== undefined) out.push(x.cfg.adminToken);
  for (const h of ['authorization', 'x-api-key', 'api-key']) {
    const v = headerValue(x.incoming.headers[h]);
    if (v !== undefined) out.push(v, v.replace(/^Bearer\s+/i, ''));
  }
  return out;
}

/** Which answers are kept: the cache only successes; a recording anything but the provider's failures. */
const worthKeeping = (to: Keep['to'], status: number) =>
  to === 'cache' ? status >= 200 && status < 300 : status < 500 && status !== 429;

/** The job an answer started (a LlamaParse upload's id), read by the adapter from the recorded JSON. */
const jobOf = (x: Exchange, body: RecordedBody) =>
  'json' in body ? x.adapter.usageFromJson(x.route.operation, body.json)?.jobId : undefined;

async function store(x: Exchange, keep: Keep, reply: Reply, body: RecordedBody): Promise<void> {
  const secrets = secretsOf(x);
  const answer = { status: reply.status, headers: clientHeaders(reply.headers), body };
  const cassettes = new CassetteStore(x.cfg.cassettes.dir);
  if (keep.to === 'job') return cassettes.addFollowUp(keep.file, keep.request, answer, secrets);
  const recording: Recording = {
    key: keep.key.hash,
    recordedAt: new Date().toISOString(),
    request: keep.key.request,
    ...answer,
  };
  if (keep.to === 'cache') {
    return x.deps.cache?.put(keep.cacheKey, serialize(recording, secrets, true), x.cfg.responseCache.ttlMs);
  }
  recording.jobId = x.route.metered ? jobOf(x, body) : undefined;
  await cassettes.write(keep.key.file, recording, secrets);
  if (recording.jobId !== undefined) cassettes.noteJob(recording.jobId, keep.key.file);
}

/**
 * The provider's answer, with a copy taken as it streams by: once it ended whole, it is written as a
 * recording (RECORD) or stored in the cache, before its last byte reaches the worker (the next
 * call finds it). A failure to keep it is reported and never fails the answer.
 */
export function kept(x: Exchange, keep: Keep, reply: Reply): Reply {
  if (!worthKeeping(keep.to, reply.status) || typeof reply.body === 'string' || reply.body instanceof Uint8Array) {
    return reply;
  }
  const body = capture(
    reply.body as Readable,
    contentType(reply.headers),
    (recorded) => store(x, keep, reply, recorded).catch((e) => x.deps.observer.error(e, x.call)),
    { readable: keep.to !== 'cache' },
  );
  return { ...reply, body };
}
