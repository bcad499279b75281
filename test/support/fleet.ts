/** What the fleet tests share: the sidecar settings of a REAL-mode fleet member (a call's worst case: support/tollgate.ts). */

/** One fleet member: OpenAI in REAL mode against the stand-in, state in the shared Redis. */
export const fleetMember = (key: string, upstream: string, stateUrl: string, spoolDir: string) => ({
  OPENAI_MODE: 'real',
  OPENAI_API_KEY: key,
  OPENAI_UPSTREAM_URL: upstream,
  STATE_URL: stateUrl,
  STATE_SPOOL_DIR: spoolDir,
});
