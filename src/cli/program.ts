import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isConfigError } from '../config/errors.js';
import { isAuthError } from '../core/errors.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from './errors.js';
import { configCommand } from './config.js';
import { doctorCommand } from './doctor.js';
import { initCommand } from './init.js';
import { keysCommand } from './keys.js';
import { migrateCommand } from './migrate.js';
import { serveCommand } from './serve.js';
import { usersCommand } from './users.js';

function version(): string {
  // ../../package.json from both src/cli (tsx) and dist/cli (built).
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export function createProgram(): Command {
  const program = new Command('restauth')
    .description('JWT authentication server for PostgREST or a json-server compatible API on a JSON file')
    .version(version(), '-v, --version')
    // Errors come back to run() as exceptions, so it picks the exit code.
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    // json-server's users type `restauth db.json --watch ...`: the default command's flags are serve's.
    .addHelpText(
      'after',
      "\n`restauth [DATA_FILE] [options]` runs serve: json-server's flags (--watch, --routes, --static, ...)\n" +
        "and postgrest-auth's are listed by `restauth serve --help`.",
    );
  // addCommand (unlike .command()) does not pass settings down: copy exitOverride and help-after-error.
  program.addCommand(inherit(serveCommand(), program), { isDefault: true });
  program.addCommand(inherit(initCommand(), program));
  program.addCommand(inherit(configCommand(), program));
  program.addCommand(inherit(doctorCommand(), program));
  program.addCommand(inherit(keysCommand(), program));
  program.addCommand(inherit(migrateCommand(), program));
  program.addCommand(inherit(usersCommand(), program));
  return program;
}

/** Copies the settings to a command and its own subcommands (`keys generate`), which were made before. */
function inherit(command: Command, parent: Command): Command {
  command.copyInheritedSettings(parent);
  for (const sub of command.commands) inherit(sub, command);
  return command;
}

/** Prints an error the way a person can act on it and returns the exit code. */
export function report(error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and version exit 0; commander has already printed any usage error.
    return error.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (isConfigError(error)) {
    console.error(`restauth: ${error.message}`);
    return EXIT_USAGE;
  }
  // A use case refused (no such user, a taken address, a weak password): its message says why.
  if (isAuthError(error)) {
    console.error(`restauth: ${error.message}`);
    return EXIT_FAILURE;
  }
  if (error instanceof CliError) {
    console.error(`restauth: ${error.message}`);
    return error.exitCode;
  }
  // A system error (lock held, permission denied, ...) has an E-code and a message that says it all;
  // anything else (ERR_* included) is a bug, and its stack helps.
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (error instanceof Error && typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    console.error(`restauth: ${error.message}`);
    return EXIT_FAILURE;
  }
  console.error('restauth: unexpected error:', error);
  return EXIT_FAILURE;
}

export async function run(argv: string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    return report(error);
  }
}
