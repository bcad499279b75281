/**
 * The old entry point, kept while src/server.ts and src/proxy/handler.ts still import it (they are
 * being rewritten elsewhere). Everything else imports limits/index.js; delete this file once those do.
 */
export { type Admission, Limiter } from './admission.js';
export { toNano } from './rules.js';
