/** The shapes /health is made of (draft-inadarei-api-health-check). */

export type CheckStatus = 'pass' | 'warn' | 'fail';

/** One entry of draft-inadarei-api-health-check `checks`. */
export interface Check {
  componentId?: string;
  componentType?: string;
  status: CheckStatus;
  observedValue?: number | string | boolean;
  observedUnit?: string;
  time: string;
  output?: string;
  /** How this check counts towards the overall status, when milder than its own (not shown). */
  overall?: CheckStatus;
}
