import { DocumentRefusal } from '../core/ports/documents.js';

/**
 * The data API's refusals, by the code its answers carry and their status:
 * answered as `{ "error": code, "message": ... }`, except 401, which is
 * json-data-server's JSON string "No authorization" (see index.ts).
 */
const DATA_ERROR_STATUS = {
  validation_failed: 400,
  invalid_json: 400,
  no_authorization: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
} as const satisfies Record<string, number>;

export type DataErrorCode = keyof typeof DATA_ERROR_STATUS;

/**
 * A request the data API refuses. It is a DocumentRefusal: thrown inside a
 * transaction, it is thrown before the transaction changed anything (each
 * check runs first), so the document store rejects that transaction alone.
 */
export class DataError extends DocumentRefusal {
  override readonly name: string = 'DataError';
  readonly status: number;

  constructor(
    readonly code: DataErrorCode,
    message: string,
  ) {
    super(message);
    this.status = DATA_ERROR_STATUS[code];
  }
}

export function isDataError(value: unknown): value is DataError {
  return value instanceof DataError;
}
