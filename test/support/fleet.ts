/** What the fleet tests share: the sidecar settings of a REAL-mode fleet member, and a call's worst case. */
import { worstCaseCost } from '../../src/metering/cost.js';
import { PriceSource } from '../../src/metering/prices.js';
import { countChatTokens } from '../../src/providers/openai/tokens.js';

/** One fleet member: OpenAI in REAL mode against the stand-in, state in the shared Redis. */
export const fleetMember = (key: string, upstream: string, stateUrl: string, spoolDir: string) => ({
  OPENAI_MODE: 'real',
  OPENAI_API_KEY: key,
  OPENAI_UPSTREAM_URL: upstream,
  STATE_URL: stateUrl,
  STATE_SPOOL_DIR: spoolDir,
});

/** The worst-case USD admission reserves for a gpt-4o-mini chat of `messages` with `maxTokens`. */
export const worstChatUsd = (messages: { role: 'user'; content: string }[], maxTokens: number): number =>
  worstCaseCost(new PriceSource().current, 'openai', 'gpt-4o-mini', countChatTokens('gpt-4o-mini', messages), maxTokens)
    .usd;
