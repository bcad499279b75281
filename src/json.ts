/** A JSON object (not null, not an array): what a request or answer body must be to be read field by field. */
export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
