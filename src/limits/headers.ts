import type { LimitKind } from './rules.js';

/** A bucket as a response (and the admin view) reports it. */
export interface BucketView {
  kind: LimitKind;
  scope: string;
  limit: number;
  burst: number;
  remaining: number;
  resetMs: number;
}

/** fmtReset answers for whole seconds, memoized: the same few values recur call after call. */
const resetText = new Map<number, string>();

/** A reset delay as OpenAI writes it (`59s`, `1m0s`, `1h1m1s`), rounded up to whole seconds. */
export const fmtReset = (ms: number) => {
  const s = Math.ceil(ms / 1000);
  let text = resetText.get(s);
  if (text !== undefined) return text;
  if (s < 60) text = `${s}s`;
  else {
    const m = Math.floor(s / 60);
    text = m < 60 ? `${m}m${s % 60}s` : `${Math.floor(m / 60)}h${m % 60}m${s % 60}s`;
  }
  if (resetText.size >= 8192) resetText.clear();
  resetText.set(s, text);
  return text;
};

const namesOf = (kind: LimitKind) => ({
  limit: `x-ratelimit-limit-${kind}`,
  remaining: `x-ratelimit-remaining-${kind}`,
  reset: `x-ratelimit-reset-${kind}`,
});

/** Built once: the names are asked for on every admitted call. */
const HEADER_NAMES: Record<LimitKind, ReturnType<typeof namesOf>> = {
  requests: namesOf('requests'),
  tokens: namesOf('tokens'),
  pages: namesOf('pages'),
};

/** The tightest bucket of each kind (the one a worker must respect), kinds in order of first appearance. */
function tightestPerKind(views: readonly BucketView[]): BucketView[] {
  const out: BucketView[] = [];
  outer: for (let i = 0; i < views.length; i++) {
    const kind = views[i]!.kind;
    for (let j = 0; j < i; j++) if (views[j]!.kind === kind) continue outer;
    let v = views[i]!;
    for (let j = i + 1; j < views.length; j++) {
      const o = views[j]!;
      if (o.kind === kind && o.remaining < v.remaining) v = o;
    }
    out.push(v);
  }
  return out;
}

/** OpenAI-style x-ratelimit-* for requests/tokens, plus the IETF draft RateLimit-Policy/RateLimit. */
export function rateLimitHeaders(views: readonly BucketView[]): Record<string, string> {
  const h: Record<string, string> = {};
  let policy = '';
  let current = '';
  for (const v of tightestPerKind(views)) {
    const names = HEADER_NAMES[v.kind];
    h[names.limit] = String(v.limit);
    h[names.remaining] = String(v.remaining);
    h[names.reset] = fmtReset(v.resetMs);
    const sep = policy === '' ? '' : ', ';
    policy += `${sep}"${v.kind}";q=${v.limit};w=3600`;
    current += `${sep}"${v.kind}";r=${v.remaining};t=${Math.ceil(v.resetMs / 1000)}`;
  }
  if (policy !== '') {
    h['ratelimit-policy'] = policy;
    h.ratelimit = current;
  }
  return h;
}
