/** The mock's answers: JSON bodies, LlamaCloud's error shapes, FastAPI's 422 validation shape. */
import { invalidRequest, type TollgateError } from '../../../errors.js';
import type { ProviderReply } from '../../types.js';
import type { DocumentError } from '../extract/index.js';

export function json(status: number, body: unknown, headers: Record<string, string> = {}): ProviderReply {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

export function errorReply(error: TollgateError): ProviderReply {
  return json(error.status, error.body('llamaparse'), error.headers);
}

/** FastAPI's 422 shape, which LlamaCloud answers for a missing or invalid body field. */
export function validationError(location: string[], message: string, type = 'missing'): ProviderReply {
  return json(422, { detail: [{ type, loc: location, msg: message, input: null }] });
}

/** An empty or unsupported upload: LlamaCloud refuses it as a bad `file`. */
export function documentErrorReply(error: DocumentError): ProviderReply {
  return errorReply(invalidRequest(error.message, 'file'));
}
