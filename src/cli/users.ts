import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/load.js';
import { resolveJwtSecret } from '../config/secret.js';
import type { AdminService } from '../core/admin-service.js';
import type { Session, User } from '../core/ports/store.js';
import { showHiddenCharacters } from '../lib/hidden-characters.js';
import { CliError, EXIT_USAGE } from './errors.js';
import { LOCAL_CALL } from '../core/audit.js';

/**
 * `restauth users ...`: accounts from the command line, on either store,
 * through the same use cases as the admin API (AdminService), never by
 * writing to a store directly. A file store in use by a running server is
 * refused by its instance lock, naming that process (stores/file/instance-lock.ts).
 */
interface StoreFlags {
  config?: string;
  dataFile?: string;
  connection?: string;
  dev?: boolean;
  json?: boolean;
}

function withStoreOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'config file: restauth.json, config.json or postgrest-auth.json')
    .option('-d, --data-file <file>', 'db.json of the file store (default: ./db.json; RESTAUTH_DATA_FILE)')
    .option('-C, --connection <url>', 'PostgreSQL connection string (else DATABASE_URL or the config)')
    .option('--dev', 'development mode, as serve --dev (RESTAUTH_DEV=1)')
    .option('--json', 'print JSON');
}

/** Opens the services as serve composes them, runs `work` with the admin use cases, and closes them. */
async function withAdmin<T>(flags: StoreFlags, work: (admin: AdminService) => Promise<T>): Promise<T> {
  const loaded = await loadConfig({
    configFile: flags.config,
    dataFile: flags.dataFile,
    development: flags.dev,
    ...(flags.connection ? { postgrestAuth: { connection: flags.connection } } : {}),
  });
  const warn = (message: string) => console.error(`restauth: ${message}`);
  const config = await resolveJwtSecret(loaded, { warn });
  // Imported lazily: --help should not load the whole server.
  const { createServices } = await import('../compose.js');
  const services = await createServices(config, { info: () => {}, warn }, { workers: false });
  try {
    return await work(services.admin);
  } finally {
    await services.close();
  }
}

function positiveInteger(max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
      throw new InvalidArgumentError(`must be a whole number from 1 to ${max}`);
    }
    return Number(value);
  };
}

/** A password from standard input (never a flag: flags are seen in `ps` and kept in shell history). */
async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new CliError(
      '--password-stdin reads the password from a pipe, e.g. `read -rs PW; echo "$PW" |`',
      EXIT_USAGE,
    );
  }
  let input = '';
  for await (const chunk of process.stdin) input += (chunk as Buffer).toString('utf8');
  // One trailing line break is the pipe's, not the password's.
  const password = input.replace(/\r?\n$/u, '');
  if (password === '') throw new CliError('no password on standard input', EXIT_USAGE);
  return password;
}

/** A user as printed: every field but none that is a secret (the store keeps hashes apart). */
function userJson(user: User) {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    emailConfirmedAt: user.emailConfirmedAt,
    role: user.role,
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
    lastSignInAt: user.lastSignInAt,
    bannedUntil: user.bannedUntil,
    profile: user.profile,
    appMetadata: user.appMetadata,
  };
}

/** A session as printed: its refresh secret is never shown. */
function sessionJson(session: Session) {
  return {
    id: session.id,
    createdAt: session.createdAt,
    refreshedAt: session.refreshedAt,
    notAfter: session.notAfter,
  };
}

function date(value: Date | null): string {
  return value === null ? '-' : value.toISOString();
}

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function describeUser(user: User): string {
  const lines: Array<[string, string]> = [
    ['id', user.id],
    ['email', user.email ?? '-'],
    ['username', user.username ?? '-'],
    ['confirmed', date(user.emailConfirmedAt)],
    ['role', user.role ?? '-'],
    ['created', date(user.createdAt)],
    ['updated', date(user.updatedAt)],
    ['last sign-in', date(user.lastSignInAt)],
    ['banned until', date(user.bannedUntil)],
    ['profile', JSON.stringify(user.profile)],
    ['app metadata', JSON.stringify(user.appMetadata)],
  ];
  return lines.map(([name, value]) => `${`${name}:`.padEnd(14)}${value}`).join('\n');
}

/**
 * Prints to a terminal: a stored string's controls and invisible characters (user metadata is kept
 * as given, a name may predate their refusal) as escapes, line by line so the output's own line
 * breaks stay; in JSON the escapes are the same JSON (JSON.stringify leaves C1 controls and U+202E raw).
 */
function print(flags: StoreFlags, json: unknown, text: string): void {
  const output = flags.json ? JSON.stringify(json, null, 2) : text;
  console.log(output.split('\n').map(showHiddenCharacters).join('\n'));
}

const USER_ARGUMENT = ['<user>', 'the user: an email address, an id or a user name'] as const;

export function usersCommand(): Command {
  const users = new Command('users').description(
    'list and manage accounts on the configured store (file or PostgreSQL), as the admin API does',
  );

  withStoreOptions(users.command('list').description('list users, newest first, a page at a time'))
    .option('--page <n>', 'page number', positiveInteger(1_000_000), 1)
    .option('--per-page <n>', 'users per page (at most 1000)', positiveInteger(1000), 50)
    .action(async (flags: StoreFlags & { page: number; perPage: number }) => {
      const { users: page, total } = await withAdmin(flags, (admin) =>
        admin.listUsers(flags.page, flags.perPage, { newestFirst: true }),
      );
      const pages = Math.max(1, Math.ceil(total / flags.perPage));
      const rows = page.map((user) => [
        user.id,
        user.email ?? '-',
        user.username ?? '-',
        date(user.createdAt),
        user.emailConfirmedAt === null ? 'no' : 'yes',
        date(user.bannedUntil),
      ]);
      print(
        flags,
        { users: page.map(userJson), total, page: flags.page, perPage: flags.perPage },
        `${table(['ID', 'EMAIL', 'USERNAME', 'CREATED', 'CONFIRMED', 'BANNED UNTIL'], rows)}\n` +
          `page ${flags.page} of ${pages}, ${total} user${total === 1 ? '' : 's'}`,
      );
    });

  withStoreOptions(
    users
      .command('show')
      .description('show one user')
      .argument(...USER_ARGUMENT),
  ).action(async (login: string, flags: StoreFlags) => {
    const user = await withAdmin(flags, (admin) => admin.findUser(login));
    print(flags, userJson(user), describeUser(user));
  });

  withStoreOptions(
    users
      .command('create')
      .description('create an account with an email address (passwordless unless --password-stdin)')
      .argument('<email>', 'its email address'),
  )
    .option('--password-stdin', 'read its password from standard input')
    .option('--confirmed', 'the address counts as confirmed')
    .action(async (email: string, flags: StoreFlags & { passwordStdin?: boolean; confirmed?: boolean }) => {
      const password = flags.passwordStdin ? await readPassword() : undefined;
      const user = await withAdmin(flags, (admin) =>
        admin.createUser(LOCAL_CALL, { email, password, emailConfirm: flags.confirmed === true }),
      );
      print(flags, userJson(user), `created ${user.id} (${user.email ?? ''})`);
    });

  withStoreOptions(
    users
      .command('delete')
      .description('delete a user with its sessions')
      .argument(...USER_ARGUMENT),
  ).action(async (login: string, flags: StoreFlags) => {
    const user = await withAdmin(flags, async (admin) => {
      const found = await admin.findUser(login);
      await admin.deleteUser(LOCAL_CALL, found.id);
      return found;
    });
    print(flags, { deleted: user.id }, `deleted ${user.id} (${user.email ?? user.username ?? ''})`);
  });

  withStoreOptions(
    users
      .command('set-password')
      .description("set a user's password from standard input; ends all its sessions")
      .argument(...USER_ARGUMENT),
  )
    .option('--password-stdin', 'read the password from standard input (the only way; required)')
    .action(async (login: string, flags: StoreFlags & { passwordStdin?: boolean }) => {
      if (!flags.passwordStdin) {
        throw new CliError('give the password on standard input with --password-stdin', EXIT_USAGE);
      }
      const password = await readPassword();
      const user = await withAdmin(flags, async (admin) =>
        admin.updateUser(LOCAL_CALL, (await admin.findUser(login)).id, { password }),
      );
      print(flags, userJson(user), `password set for ${user.id}; its sessions are ended`);
    });

  withStoreOptions(
    users
      .command('confirm')
      .description("mark a user's email address confirmed")
      .argument(...USER_ARGUMENT),
  ).action(async (login: string, flags: StoreFlags) => {
    const user = await withAdmin(flags, async (admin) =>
      admin.updateUser(LOCAL_CALL, (await admin.findUser(login)).id, { emailConfirm: true }),
    );
    print(flags, userJson(user), `confirmed ${user.email ?? user.id} at ${date(user.emailConfirmedAt)}`);
  });

  withStoreOptions(
    users
      .command('ban')
      .description('ban a user for a while, ending its sessions; "none" lifts a ban')
      .argument(...USER_ARGUMENT)
      .argument('<duration>', 'a Go duration as GoTrue\'s ban_duration: "24h", "1h30m", "8760h"; or "none"'),
  ).action(async (login: string, duration: string, flags: StoreFlags) => {
    const user = await withAdmin(flags, async (admin) =>
      admin.updateUser(LOCAL_CALL, (await admin.findUser(login)).id, { banDuration: duration }),
    );
    print(
      flags,
      userJson(user),
      user.bannedUntil === null
        ? `${user.id} is not banned`
        : `${user.id} is banned until ${date(user.bannedUntil)}`,
    );
  });

  withStoreOptions(
    users
      .command('sessions')
      .description("list a user's live sessions, newest first")
      .argument(...USER_ARGUMENT),
  ).action(async (login: string, flags: StoreFlags) => {
    const sessions = await withAdmin(flags, async (admin) =>
      admin.listSessions((await admin.findUser(login)).id),
    );
    const rows = sessions.map((session) => [
      session.id,
      date(session.createdAt),
      date(session.refreshedAt),
      date(session.notAfter),
    ]);
    print(
      flags,
      sessions.map(sessionJson),
      sessions.length === 0
        ? 'no live sessions'
        : table(['ID', 'CREATED', 'LAST REFRESH', 'ENDS AT THE LATEST'], rows),
    );
  });

  withStoreOptions(
    users
      .command('sign-out')
      .description('end every session of a user: its refresh tokens and access tokens stop working')
      .argument(...USER_ARGUMENT),
  ).action(async (login: string, flags: StoreFlags) => {
    const { id, ended } = await withAdmin(flags, async (admin) => {
      const user = await admin.findUser(login);
      return { id: user.id, ended: await admin.signOut(LOCAL_CALL, user.id) };
    });
    print(flags, { id, ended }, `ended ${ended} session${ended === 1 ? '' : 's'} of ${id}`);
  });

  return users;
}
