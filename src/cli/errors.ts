/** A failure the CLI reports as one line (no stack) with its own exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Exit codes: 1 a runtime failure (port taken, files exist), 2 a usage or configuration error. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
