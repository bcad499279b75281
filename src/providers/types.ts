import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

export type { Provider as ProviderName } from './catalog.js';

/** Mock realism and fault injection (contract section 2, MOCK_*). */
export interface MockSettings {
  /** Inclusive range; [0, 0] for none. */
  latencyMs: readonly [number, number];
  streamChunkDelayMs: number;
  /** 0..1: share of calls that fail with a provider-shaped 500. */
  errorRate: number;
  seed: number;
  parseDelayMs: number;
}

/**
 * What a provider (real or mock) answered, before the sidecar adds its own headers.
 * `body` is a string/bytes for whole answers, or an async iterable for streams
 * (each item goes to the worker as soon as it is produced).
 */
export interface ProviderReply {
  status: number;
  headers: Record<string, string>;
  body: string | Uint8Array | AsyncIterable<string | Uint8Array> | Readable | null;
}

/** One request as a mock sees it. Paths are relative to the provider prefix. */
export interface MockCall {
  /** Operation name from the provider's route table (e.g. 'chat', 'embeddings', 'parse.upload'). */
  operation: string;
  method: string;
  /** e.g. '/v1/chat/completions' for OpenAI, '/api/parsing/upload' for LlamaParse. */
  path: string;
  /** Route parameters (e.g. { id } for '/api/parsing/job/:id'). */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, for operations whose body is JSON. */
  json?: unknown;
  /** The raw body, for operations whose body is streamed (multipart uploads). */
  body?: Readable;
  signal: AbortSignal;
  correlationId: string;
}

export interface ProviderMock {
  handle(call: MockCall): Promise<ProviderReply>;
}
