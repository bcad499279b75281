import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Provider } from '../config/index.js';
import type { ProviderShape } from '../errors.js';
import type { SseEvent } from './sse.js';
import type { MockSettings, ProviderMock } from './types.js';

export interface RouteSpec {
  /** Stable operation name, e.g. 'chat', 'parse.upload', or 'passthrough'. */
  operation: string;
  method: string;
  /** Hono route pattern relative to the provider prefix. */
  pattern: string;
  /** 'json': read (capped), parsed, validated; 'stream': relayed as it arrives; 'none': no body. */
  body: 'json' | 'stream' | 'none';
  metered: boolean;
}

/** What a call consumed, as far as the response tells. */
export interface Usage {
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  pages: number;
  /**
   * Prompt tokens written to the provider's prompt cache (Anthropic's `cache_creation_input_tokens`,
   * OpenAI's `cache_write_tokens`). Like `cachedInputTokens` (cache reads) they are part of
   * `inputTokens`, which always counts the whole prompt whatever the provider reports apart.
   */
  cacheWriteTokens?: number;
  /** Of `cacheWriteTokens`, those written to a one-hour cache (Anthropic prices them apart from 5-minute writes). */
  cacheWrite1hTokens?: number;
  model?: string;
  responseId?: string;
  finishReasons?: string[];
  /** LlamaParse tier, when known. */
  tier?: string;
  credits?: number;
  /** LlamaParse pages auto mode upgraded, billed at the premium tier on top of `pages`. */
  premiumPages?: number;
  /** The job an answer started (a LlamaParse upload): what the call held is handed to it. */
  jobId?: string;
  /** True once the provider reported usage itself (else counts are estimated from what was delivered). */
  reported?: boolean;
  /** Text delivered so far in a stream, to count a stream cut short with the tokenizer. */
  deliveredText?: string;
}

/** What admission reserves for a call before it runs. */
export interface WorstCase {
  inputTokens: number;
  outputTokens: number;
  pages: number;
  /** Model or LlamaParse tier to price the worst case with. */
  model: string | undefined;
  /**
   * The request field that set `outputTokens` (or `pages`), so a refusal can say how much would fit:
   * `outputTokens` (or `pages`) is `value × perUnit` (`n` choices each get `max_tokens`).
   * `given` is false when the field was absent and a configured default stood in.
   */
  sizing?: Sizing | undefined;
}

export interface Sizing {
  param: string;
  value: number;
  perUnit: number;
  given: boolean;
  /** What sizes: output tokens, or pages. */
  of: 'outputTokens' | 'pages';
  /** The setting whose default stood in when the field was absent (`RESERVE_OUTPUT_TOKENS`). */
  defaultVar: string;
}

export const emptyUsage = (): Usage => ({ inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, pages: 0 });

export interface PreparedJson {
  /** The body to send upstream (may differ from what the worker sent). */
  body: unknown;
  /** True when the sidecar asked for a usage chunk the worker did not ask for: strip it on the way back. */
  stripUsage: boolean;
}

/** A streamed request body spooled to a temporary file, read again as often as needed. */
export interface SpooledUpload {
  headers: IncomingHttpHeaders;
  open(): Readable;
}

/** What identifies an upload for a recording: its file's content hash and its form fields, sorted. */
export interface UploadKey {
  sha256: string;
  fields: [string, string][];
}

export interface MockOptions {
  maxUploadBytes: number;
  now?: () => number;
}

/**
 * Everything the proxy needs to know about one provider: data and small functions.
 * Adding a provider means one folder implementing this and one line in the registry.
 */
export interface ProviderAdapter {
  name: Provider;
  /** Public prefix on the sidecar, e.g. '/openai/v1'. */
  prefix: string;
  errorShape: ProviderShape;
  /** Streamed request bodies are document uploads, capped by MAX_UPLOAD_BYTES (else MAX_BODY_BYTES). */
  uploads: boolean;
  /** Metered and known routes, most specific first. */
  routes: RouteSpec[];
  /** Pattern (relative to the prefix) of what else passes through to the upstream, e.g. '/*'. */
  passthrough: string;
  /** The path a mock sees for a path relative to the prefix. */
  mockPath(rest: string): string;
  /** Headers that carry the sidecar's key upstream. */
  authHeaders(key: string): Record<string, string>;
  createMock(settings: () => MockSettings, options: MockOptions): ProviderMock & { close?(): void };
  /** The GenAI operation name (`chat`, `embeddings`, `parse`, …) for a route operation. */
  genAiOperation(operation: string): string;
  /** The model (or LlamaParse tier) the request names, if any. */
  requestModel(operation: string, json: unknown): string | undefined;
  /** Rewrites a JSON body before it goes upstream (e.g. asks for stream usage). */
  prepareJson?(operation: string, json: unknown): PreparedJson | undefined;
  /**
   * True when the mock holds the state this request refers to (e.g. a parse job it created during a
   * HYBRID fallback): such follow-up calls are answered by the mock in every mode.
   */
  mockOwns?(mock: ProviderMock, operation: string, params: Record<string, string>): boolean;
  /**
   * The worst case of an admitted call (prompt tokens by tokenizer + the output allowance), or
   * undefined for operations that are not admitted (status polls, model lists).
   */
  worstCase?(
    operation: string,
    json: unknown,
    reserveOutputTokens: number,
    defaultPages?: number,
  ): WorstCase | undefined;
  /**
   * A cheap upper bound of `worstCase` (never below it) from the raw body, without the tokenizer:
   * admission reserves this and asks for the exact worst case only when the bound would be refused.
   */
  worstCaseBound?(operation: string, json: unknown, raw: Buffer, reserveOutputTokens: number): WorstCase | undefined;
  /**
   * Loads what the hot path needs for `models` (the price table's), so the first call costs what the
   * thousandth does (OpenAI: the tokenizer encodings those models use, and no others).
   */
  warm?(models: readonly string[]): Promise<void>;
  /**
   * The worst case of an upload, from its spooled body (LlamaParse: the document's pages, capped by
   * the form's page selection; `defaultPages` when they cannot be counted). Routes with this hook
   * are spooled before admission.
   */
  worstCaseOfUpload?(operation: string, upload: SpooledUpload, defaultPages: number): Promise<WorstCase | undefined>;
  /** Where the sidecar reads a job's result metadata itself (path and query below the upstream base). */
  jobResultPath?(operation: string, jobId: string): string;
  /** Counts output tokens of text a stream delivered before it was cut short. */
  countTokens?(model: string | undefined, text: string): number;
  /** A ledger id that books the call once fleet-wide (LlamaParse: once per job); default: one row per call. */
  bookingId?(operation: string, params: Record<string, string>): string | undefined;
  /**
   * An upload's identity for recordings and the cache (LlamaParse: the file's content hash and the
   * parse options), read from its spooled body; without it uploads are never recorded.
   */
  uploadKey?(operation: string, upload: SpooledUpload): Promise<UploadKey | undefined>;
  /**
   * The job a follow-up call reads (a LlamaParse status poll or result): a recording keeps a job's
   * upload and every follow-up as one interaction.
   */
  jobOf?(operation: string, params: Record<string, string>): string | undefined;
  /** Usage from a whole JSON response. */
  usageFromJson(operation: string, body: unknown): Usage | undefined;
  /** Folds one SSE event into the running usage; returns true when the event exists only for the injected usage. */
  usageFromSse?(operation: string, event: SseEvent, usage: Usage): boolean;
}
