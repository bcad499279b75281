import { randomUUID } from 'node:crypto';
import type { AdmitRequest } from '../../src/limits/index.js';

/** One call's admission request: a small budgeted gpt-4o-mini call unless `over` says otherwise. */
export const admitCall = (over: Partial<AdmitRequest> = {}): AdmitRequest => ({
  id: randomUUID(),
  provider: 'openai',
  model: 'gpt-4o-mini',
  tokens: 100,
  pages: 0,
  worstUsd: 0.001,
  budgeted: true,
  mayDegrade: false,
  ...over,
});
