import { randomUUID } from 'node:crypto';
import { callsUpstream } from '../config/index.js';
import { TollgateError } from '../errors.js';
import type { Admission, AdmitRequest, AdmitSizing } from '../limits/index.js';
import type { WorstCase } from '../providers/index.js';
import type { Exchange } from './exchange.js';
import type { Request } from './read.js';

/**
 * The worst case a call may cost. Admission reserves a cheap upper bound of the prompt (its bytes)
 * and runs the tokenizer only when that bound would be refused; the exact count is used wherever a
 * count is booked.
 */
export class WorstCaseOf {
  #value: WorstCase | undefined;
  #exact: (() => WorstCase) | undefined;
  constructor(value: WorstCase | undefined, exact?: () => WorstCase) {
    this.#value = value;
    this.#exact = exact;
  }

  /** What admission reserved (a bound, until `exact()` was asked for). */
  get reserved(): WorstCase | undefined {
    return this.#value;
  }

  /** True while only a bound is known. */
  get bounded(): boolean {
    return this.#exact !== undefined;
  }

  /** The exact worst case (tokenizer counts), computed at most once. */
  exact(): WorstCase | undefined {
    if (this.#exact !== undefined) {
      this.#value = this.#exact();
      this.#exact = undefined;
    }
    return this.#value;
  }
}

/** The worst case of a metered call, or none (status polls, model lists, unmetered routes). */
export function worstCaseOf(x: Exchange, req: Request): WorstCaseOf {
  const { adapter, route, cfg } = x;
  if (!route.metered) return new WorstCaseOf(undefined);
  if (req.uploadWorst !== undefined) return new WorstCaseOf(req.uploadWorst);
  const reserve = cfg.reserveOutputTokens;
  const bound =
    req.raw !== undefined ? adapter.worstCaseBound?.(route.operation, req.json, req.raw, reserve) : undefined;
  if (bound === undefined) {
    return new WorstCaseOf(adapter.worstCase?.(route.operation, req.json, reserve, cfg.parseJobs.defaultPages));
  }
  return new WorstCaseOf(bound, () => adapter.worstCase?.(route.operation, req.json, reserve) ?? bound);
}

/** The request field that sized the worst case, priced: what the rest costs and what each unit of it adds. */
function sizingOf(x: Exchange, c: WorstCase): AdmitSizing | undefined {
  const s = c.sizing;
  if (s === undefined || s.of !== 'outputTokens') return undefined;
  const meter = x.deps.meter;
  const provider = x.adapter.name;
  const fixedUsd = meter.worst(provider, c.model, c.inputTokens, 0);
  // Priced per 1000 units and divided, so a price per million tokens does not round to 0.
  const usdPerUnit =
    (meter.worst(provider, c.model, 0, 1000 * s.perUnit) - meter.worst(provider, c.model, 0, 0)) / 1000;
  return { ...s, fixedUsd, fixedTokens: c.inputTokens, usdPerUnit };
}

/** What the limiter is asked to reserve for a call. */
function admitRequest(x: Exchange, req: Request, worst: WorstCaseOf, reserved: WorstCase): AdmitRequest {
  const provider = x.adapter.name;
  const worstUsd = (c: WorstCase) => x.deps.meter.worst(provider, c.model, c.pages || c.inputTokens, c.outputTokens);
  const refine = () => {
    const e = worst.exact() as WorstCase;
    return { tokens: e.inputTokens + e.outputTokens, worstUsd: worstUsd(e) };
  };
  return {
    id: randomUUID(),
    provider,
    model: x.call.model ?? reserved.model,
    tokens: reserved.inputTokens + reserved.outputTokens,
    pages: reserved.pages,
    worstUsd: worstUsd(reserved),
    budgeted: callsUpstream(req.mode) || x.cfg.budgets.includeMock,
    mayDegrade: req.mode === 'hybrid',
    refine: worst.bounded ? refine : undefined,
    sizing: (refined) => sizingOf(x, refined ? (worst.exact() as WorstCase) : reserved),
  };
}

/**
 * Stage 2: reserves the call's worst case against its buckets and budgets, or refuses it (429).
 * Calls with no worst case are not admitted (undefined).
 */
export async function admitCall(x: Exchange, req: Request, worst: WorstCaseOf): Promise<Admission | undefined> {
  const reserved = worst.reserved;
  if (reserved === undefined) return undefined;
  try {
    return await x.deps.limiter.admit(admitRequest(x, req, worst, reserved));
  } catch (e) {
    if (e instanceof TollgateError) throw e;
    // The store could not decide (no answer within STATE_TIMEOUT_MS, OOM, a bad key): refuse clearly
    // rather than run an unmetered call.
    throw new TollgateError(503, 'state_unavailable', 'The limits store could not admit this call', {
      cause: e,
      headers: { 'retry-after': '1' },
    });
  }
}
