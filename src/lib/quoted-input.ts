/**
 * PostgreSQL's data exceptions (SQLSTATE class 22) quote the value they refused in their message
 * (`invalid input syntax for type uuid: "..."`) and in `where` (`unnamed portal parameter $1 = '...'`),
 * and pg's message is also its stack's first line: a token or an address can be that value.
 */
const DATA_EXCEPTION = /^22[0-9A-Z]{3}$/u;
const QUOTED_INPUT = /"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'/gu;

/** Whether `code` is a data exception's SQLSTATE, whose text quotes its input. */
export function isDataException(code: unknown): boolean {
  return typeof code === 'string' && DATA_EXCEPTION.test(code);
}

/** `text` with every quoted value hidden: what a data exception's message says without its input. */
export function withoutQuotedInput(text: string): string {
  return text.replace(QUOTED_INPUT, '"[redacted]"');
}

/** An error's message, without its quoted input when it is a data exception's. */
export function errorMessageWithoutInput(error: unknown): string {
  const { message, code } = error as { message?: unknown; code?: unknown };
  const text = typeof message === 'string' ? message : String(error);
  return isDataException(code) ? withoutQuotedInput(text) : text;
}
