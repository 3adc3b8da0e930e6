/**
 * A configuration problem a person can fix: the message names the file (or
 * variable, or flag) and the key exactly as they wrote it. The CLI prints the
 * message alone, without a stack, and exits with code 2.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'ERR_RESTAUTH_CONFIG';
}

export function isConfigError(value: unknown): value is ConfigError {
  return value instanceof ConfigError;
}
