/**
 * LlamaParse tiers and what they cost, and how v1 upload options pick a tier.
 * Credits per page are LlamaCloud's published rates; one credit is a fixed price in USD
 * (the price table in metering/ holds that, and may override these rates).
 */

export type ParseTier = 'fast' | 'cost_effective' | 'agentic' | 'agentic_plus';

export const PARSE_TIERS: readonly ParseTier[] = ['fast', 'cost_effective', 'agentic', 'agentic_plus'];

export const TIER_CREDITS_PER_PAGE: Readonly<Record<ParseTier, number>> = {
  fast: 1,
  cost_effective: 3,
  agentic: 10,
  agentic_plus: 45,
};

export function isParseTier(value: unknown): value is ParseTier {
  return typeof value === 'string' && (PARSE_TIERS as readonly string[]).includes(value);
}

/** v1 `parse_mode` values and the tier whose price they are billed at. */
const PARSE_MODE_TIER: Record<string, ParseTier> = {
  parse_page_without_llm: 'fast',
  parse_page_with_llm: 'cost_effective',
  parse_document_with_llm: 'cost_effective',
  parse_page_with_lvm: 'agentic',
  parse_document_with_lvm: 'agentic',
  parse_page_with_agent: 'agentic',
  parse_page_with_layout_agent: 'agentic_plus',
  parse_document_with_agent: 'agentic_plus',
};

/** Multipart form fields; repeated fields (the reader sends `language` once per entry) keep every value. */
export type FormFields = ReadonlyMap<string, readonly string[]>;

export function field(fields: FormFields, name: string): string | undefined {
  const values = fields.get(name);
  return values?.[values.length - 1];
}

export function flag(fields: FormFields, name: string): boolean {
  // The official client serialises booleans with JSON.stringify: "true" / "false".
  const value = field(fields, name)?.toLowerCase();
  return value === 'true' || value === '1';
}

/**
 * The tier a v1 upload is billed at. An explicit `tier` wins, then `parse_mode`, then the
 * legacy flags; with none of them LlamaCloud runs `parse_page_with_llm` (cost_effective).
 */
export function tierFromV1Fields(fields: FormFields): ParseTier {
  const tier = field(fields, 'tier');
  if (isParseTier(tier)) return tier;
  const mode = field(fields, 'parse_mode');
  if (mode && PARSE_MODE_TIER[mode]) return PARSE_MODE_TIER[mode];
  if (flag(fields, 'premium_mode')) return 'agentic_plus';
  if (flag(fields, 'use_vendor_multimodal_model') || flag(fields, 'gpt4o_mode')) return 'agentic';
  if (flag(fields, 'fast_mode')) return 'fast';
  return 'cost_effective';
}
