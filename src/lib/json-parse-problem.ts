/**
 * What JSON.parse found wrong, without the text around it. V8 quotes up to ten characters either
 * side of an unexpected token (`Unexpected token 'o', ..."refresh":tok-secret-"... is not valid
 * JSON`), and restauth's files hold password hashes, refresh tokens and mailed links: a message
 * naming a damaged file went to the terminal and the log with a piece of one. The position is
 * reported by the callers that have it (line and column), never the text.
 */
export function jsonParseProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/, (?:\.\.\.)?"[\s\S]*"(?:\.\.\.)? is not valid JSON$/u, ' in JSON');
}
