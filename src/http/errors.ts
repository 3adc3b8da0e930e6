import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { AuthError, insufficientStorage, isAuthError } from '../core/errors.js';
import {
  DESCRIPTORS_RETRY_AFTER_S,
  isDescriptorExhaustion,
  isStorageFailure,
  STORAGE_RETRY_AFTER_S,
} from '../lib/storage-failure.js';

/** SQLSTATEs of characters PostgreSQL cannot store: character_not_in_repertoire, untranslatable_character. */
const POSTGRES_BAD_CHARACTER = new Set(['22021', '22P05']);

/** An error as a dialect writes it: its status and body, and a content type other than JSON's. */
export interface WireError {
  status: number;
  body: unknown;
  contentType?: string;
  /** Headers the wire adds to an error (GoTrue's x-sb-error-code). */
  headers?: Readonly<Record<string, string>>;
}

/**
 * How a dialect shapes an AuthError on its wire, and nothing else (see useErrorReply). The request
 * is there for wires whose shape depends on it (GoTrue's answers follow the client's API version).
 */
export type ErrorFormat = (error: AuthError, request: FastifyRequest) => WireError;

/** restauth's own error body, for every route outside a dialect. */
export const restauthErrorFormat: ErrorFormat = (error) => ({
  status: error.status,
  body: { error: error.code, message: error.message },
});

/**
 * The one error reply of a scope: anything thrown becomes an AuthError (toAuthError), the
 * dialect's format shapes it, and the headers every answer of that error carries (Retry-After)
 * are set here, once for all dialects.
 */
export function useErrorReply(scope: FastifyInstance, format: ErrorFormat): void {
  scope.setErrorHandler((error, request, reply) => {
    const authError = toAuthError(error, request.log);
    const { status, body, contentType, headers } = format(authError, request);
    if (headers !== undefined) void reply.headers(headers);
    if (authError.retryAfter !== undefined) void reply.header('Retry-After', String(authError.retryAfter));
    if (contentType !== undefined) void reply.type(contentType);
    return reply.code(status).send(body);
  });
}

/**
 * Turns anything a route or Fastify itself threw into an AuthError from the
 * registry, so every dialect formats one kind of error. Parser and schema
 * failures become 4xx with their (safe) message; anything unexpected is
 * logged with its stack and becomes a bare 500.
 */
export function toAuthError(error: unknown, log: FastifyBaseLogger): AuthError {
  if (isAuthError(error)) return error;
  const fastifyError = error as Partial<FastifyError> & { validation?: unknown };
  if (fastifyError.validation) {
    // The cause keeps Fastify's validation context (body, querystring, params) for the dialects.
    return new AuthError('validation_failed', fastifyError.message ?? 'Invalid request', { cause: error });
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AuthError('payload_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AuthError('unsupported_media_type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AuthError('invalid_json', 'The request body is empty but its content type is JSON');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AuthError('invalid_json', undefined, { cause: error });
  }
  if (error instanceof SyntaxError && fastifyError.statusCode === 400)
    return new AuthError('invalid_json', undefined, { cause: error });
  // PostgreSQL refusing a character of the input (NUL in text, \u0000 in jsonb): the client's text, not
  // a fault. Core refuses these first; this is the net under every route it does not see.
  if (fastifyError.code !== undefined && POSTGRES_BAD_CHARACTER.has(fastifyError.code)) {
    return new AuthError('validation_failed', 'The request contains a character that cannot be stored (NUL)');
  }
  if (isStorageFailure(error)) {
    // Not a bug: the disk is full, over quota or read-only. Reads go on; writes fail until it is fixed.
    log.warn(
      { code: fastifyError.code, message: fastifyError.message },
      'storage failure: cannot store data',
    );
    return insufficientStorage(error, STORAGE_RETRY_AFTER_S);
  }
  if (isDescriptorExhaustion(error)) {
    // Not a bug either: every file descriptor is in use for now. They free as requests end.
    log.warn(
      { code: fastifyError.code, message: fastifyError.message },
      'too many open files: cannot open a file now (raise the limit: ulimit -n, systemd LimitNOFILE)',
    );
    return new AuthError('over_capacity', undefined, { retryAfter: DESCRIPTORS_RETRY_AFTER_S, cause: error });
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new AuthError('validation_failed', fastifyError.message ?? 'Invalid request');
  }
  log.error({ err: error }, 'unexpected error');
  return new AuthError('unexpected_failure');
}
