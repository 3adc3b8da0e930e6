import { join } from 'node:path';
import type { Config } from './config/schema.js';
import { AuthService } from './core/auth-service.js';
import { PasswordHasher } from './core/passwords.js';
import { SessionManager } from './core/sessions.js';
import { MemoryRateLimitCounter, RateLimiter, type RateLimitCounter } from './core/rate-limit.js';
import type { Store } from './core/store.js';
import { TokenService } from './core/tokens.js';
import { mailNotifier } from './mail/mail-notifier.js';
import { FileMailQueue, type MailQueue } from './mail/mail-queue.js';
import { MailWorker } from './mail/mail-worker.js';
import { createMailer } from './mail/mailer.js';
import type { FileDatabase } from './stores/file/file-database.js';
import { openFileStore } from './stores/file/index.js';
import { openPostgresStore, PostgresStore } from './stores/postgres/index.js';
import { PostgresMailQueue } from './stores/postgres/mail-queue.js';
import { PostgresRateLimitCounter } from './stores/postgres/rate-limit-counter.js';

/** Everything the HTTP layer needs, built once from the frozen config: the composition root. */
export interface Services {
  config: Config;
  store: Store;
  auth: AuthService;
  hasher: PasswordHasher;
  tokens: TokenService;
  rateLimiter: RateLimiter;
  /** The JSON document store, in file mode (the data API serves it). */
  fileDatabase: FileDatabase | null;
  close(): Promise<void>;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

export interface ServiceOptions {
  /** The clock the auth rules read (tests move it instead of sleeping). */
  clock?: () => Date;
}

export async function createServices(
  config: Config,
  logger: Logger,
  options: ServiceOptions = {},
): Promise<Services> {
  if (config.jwt.secret === null) {
    throw new Error('jwt.secret must be resolved before the services start (see config/secret.ts)');
  }
  const opened = await openStore(config, logger);
  const hasher = new PasswordHasher(config.passwords);
  await hasher.prepare();
  const tokens = new TokenService({
    ...config.jwt,
    keys: config.jwt.keys.map((key) => ({ ...key })),
  });
  const sessions = new SessionManager(opened.store, config.sessions);
  const mailer = createMailer(config, logger);
  // With PostgreSQL the outbox is a table every instance shares; otherwise a file beside the data.
  const mailQueue: MailQueue =
    opened.store instanceof PostgresStore
      ? new PostgresMailQueue(opened.store.pool, opened.store.mailOutboxTable)
      : new FileMailQueue(join(config.stateDir, 'mail-queue.json'));
  const mailWorker = new MailWorker(mailQueue, mailer, logger);
  mailWorker.start();
  const auth = new AuthService({
    store: opened.store,
    notifier: mailNotifier(mailWorker, { appName: config.appName, templatesDir: config.mailTemplatesDir }),
    onBackgroundError: (error) => logger.warn(`restauth: ${(error as Error).message}`),
    hasher,
    tokens,
    sessions,
    ...(options.clock ? { clock: options.clock } : {}),
    settings: {
      usernamePattern: config.passwords.usernamePattern,
      authenticatedRole: config.roles.authenticated,
      rolePerUser: config.roles.perUser,
    },
  });
  // With PostgreSQL every instance shares the windows; otherwise each keeps its own in memory.
  const counter: RateLimitCounter =
    opened.store instanceof PostgresStore
      ? new PostgresRateLimitCounter(opened.store.pool, opened.store.rateLimitTable)
      : new MemoryRateLimitCounter();
  const { trustedProxyHeader: _header, ...rules } = config.rateLimits;
  const rateLimiter = new RateLimiter(counter, rules, options.clock);
  return {
    config,
    rateLimiter,
    store: opened.store,
    auth,
    hasher,
    tokens,
    fileDatabase: opened.fileDatabase,
    close: async () => {
      await mailWorker.stop();
      await mailer.close();
      await opened.store.close();
    },
  };
}

async function openStore(
  config: Config,
  logger: Logger,
): Promise<{ store: Store; fileDatabase: FileDatabase | null }> {
  if (config.store.type === 'file') {
    const { db, store } = await openFileStore(config.store, logger);
    return { store, fileDatabase: db };
  }
  return { store: await openPostgresStore(config.store, config.roles), fileDatabase: null };
}
