import { z } from 'zod';
import { CATALOG, PROVIDERS } from '../providers/catalog.js';

/** Optional CONFIG_FILE (YAML or JSON): what does not fit in variables. */
const rate = z.number().int().positive();
const limitSet = z
  .object({
    requests_per_hour: rate.optional(),
    tokens_per_hour: rate.optional(),
    pages_per_hour: rate.optional(),
    requests_burst: rate.optional(),
    tokens_burst: rate.optional(),
    pages_burst: rate.optional(),
  })
  .strict();
const budgetSet = z
  .object({
    hourly_usd: z.number().min(0).optional(),
    daily_usd: z.number().min(0).optional(),
    monthly_usd: z.number().min(0).optional(),
  })
  .strict();

/** `total`, a provider, or a provider narrowed to one of its models or tiers (`openai:gpt-4o`). */
const BUDGET_SCOPE = new RegExp(`^(total|${[...PROVIDERS, ...PROVIDERS.map((p) => `${p}:.+`)].join('|')})$`);
const BUDGET_SCOPE_ERROR = `budget scope must be total, ${PROVIDERS.join(', ')}, ${CATALOG.map(
  (p) => `${p.name}:<${p.budgetSubScope}>`,
).join(' or ')}`;

export const fileSchema = z
  .object({
    limits: z
      .partialRecord(z.enum(PROVIDERS), z.object({ models: z.record(z.string(), limitSet).default({}) }).strict())
      .optional(),
    budgets: z.record(z.string().regex(BUDGET_SCOPE, { error: BUDGET_SCOPE_ERROR }), budgetSet).optional(),
    prices: z.record(z.string(), z.unknown()).optional(),
    /** Request fields left out of a recording's key, besides `user`, `metadata` and `stream_options`. */
    cassettes: z
      .object({ volatile_fields: z.array(z.string().min(1)).optional() })
      .strict()
      .optional(),
    response_cache: z
      .object({
        /** Cache sampled answers (temperature > 0 without a seed) too. */
        cache_sampled: z.boolean().optional(),
        /** How many answers a shared (Redis) cache keeps; the oldest go first. */
        max_entries: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type FileConfig = z.infer<typeof fileSchema>;
