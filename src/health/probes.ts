/**
 * Kept only for src/server.ts, which imports the probes from here; it should import them
 * from ./index.js instead, and then this file goes.
 */
export { keyFormWarnings, type ProbeFetcher, ProviderProbes } from './index.js';
