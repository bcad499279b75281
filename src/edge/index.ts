export { clientErrorHandler } from './client-error.js';
export { authority, HttpServer } from './http.js';
export { type EdgeParts, edgeListener } from './listener.js';
export { correlationIdOf, pathOf, pathRefused, settleRequest, VALID_CORRELATION_ID } from './request.js';
export { shapeFor } from './shape.js';
