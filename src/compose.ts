import { join } from 'node:path';
import type { Config } from './config/schema.js';
import { AdminService } from './core/admin-service.js';
import { AuditLog, type RequestContext } from './core/audit.js';
import { AuthService } from './core/auth-service.js';
import { BackgroundWork } from './core/background.js';
import { isAuthError } from './core/errors.js';
import { EmailFlows, type LinkBuilder } from './core/email-flows.js';
import { OneTimeTokens } from './core/one-time-tokens.js';
import { PasswordHasher } from './core/passwords.js';
import { deriveKey } from './core/secrets.js';
import { SessionManager } from './core/sessions.js';
import { RateLimiter } from './core/rate-limit.js';
import type { MailOutboxStore } from './core/ports/outbox.js';
import type { RateLimitCounter } from './core/ports/rate-limits.js';
import type { Store } from './core/ports/store.js';
import { TokenService } from './core/tokens.js';
import { mailNotifier } from './mail/mail-notifier.js';
import { MailWorker } from './mail/worker.js';
import { createMailer, OutboxMailer } from './mail/mailer.js';
import type { FileDatabase } from './stores/file/file-database.js';
import { openFileStore } from './stores/file/index.js';
import { FileMailQueue } from './stores/file/outbox.js';
import { MemoryRateLimitCounter } from './stores/file/rate-limits.js';
import { fileReadiness } from './stores/file/readiness.js';
import { openPostgresStore, PostgresStore, schemaNames } from './stores/postgres/index.js';
import { postgresReadiness } from './stores/postgres/readiness.js';
import type { ReadinessProbe } from './stores/readiness.js';
import { PostgresMailQueue } from './stores/postgres/outbox.js';
import { PostgresRateLimitCounter } from './stores/postgres/rate-limits.js';

/** Everything the HTTP layer needs, built once from the frozen config: the composition root. */
export interface Services {
  config: Config;
  store: Store;
  auth: AuthService;
  flows: EmailFlows;
  admin: AdminService;
  audit: AuditLog;
  hasher: PasswordHasher;
  tokens: TokenService;
  rateLimiter: RateLimiter;
  /** The JSON document store, in file mode (the data API serves it). */
  fileDatabase: FileDatabase | null;
  /** Whether this instance can serve now (the store answers, migrations applied, folders writable). */
  readiness: ReadinessProbe;
  /**
   * Resolves once the work begun after answers has settled and the mail worker
   * has sent (or failed) every mail it was handed: what a test awaits instead of sleeping.
   */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

export interface ServiceOptions {
  /** The clock the auth rules read (tests move it instead of sleeping). */
  clock?: () => Date;
  /** The request being served, for the audit log (the HTTP layer provides it). */
  requestContext?: () => RequestContext | undefined;
}

/** restauth's own address, for links in mails: the configured public URL, else where it listens. */
export function publicUrl(config: Config): string {
  if (config.publicUrl !== null) return config.publicUrl.replace(/\/+$/u, '');
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

/** Whether new addresses must be confirmed: as configured, else only with real mail and restauth's own format. */
export function confirmEmailRequired(config: Config): boolean {
  // postgrest-auth and json-data-server clients never confirmed addresses: their configs keep working unchanged.
  return config.signup.confirmEmail ?? (config.email !== null && config.source === 'restauth');
}

function linkBuilder(config: Config): LinkBuilder | null {
  const gotrue = config.dialects.gotrue;
  if (!gotrue.enabled) return null;
  const base = `${publicUrl(config)}${gotrue.prefix}/verify`;
  return (type, token, redirectTo) => {
    const query = new URLSearchParams({ token, type });
    if (redirectTo !== null) query.set('redirect_to', redirectTo);
    return `${base}?${query.toString()}`;
  };
}

export async function createServices(
  config: Config,
  logger: Logger,
  options: ServiceOptions = {},
): Promise<Services> {
  if (config.jwt.secret === null && config.jwt.keys.length === 0) {
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
  if (mailer instanceof OutboxMailer) await mailer.removeCrashLeftovers();
  const mailQueue = opened.mailQueue;
  const mailWorker = new MailWorker(mailQueue, mailer, logger, {
    leaseMs: config.mailQueue.lease * 1000,
    pollMs: config.mailQueue.poll * 1000,
  });
  mailWorker.start();
  const clock = options.clock ?? (() => new Date());
  // An outage is logged once by the store (see stores/postgres/faults.ts), not by each write it fails.
  const onBackgroundError = (error: unknown) => {
    if (!(isAuthError(error) && error.code === 'store_unavailable')) {
      logger.warn(`restauth: ${(error as Error).message}`);
    }
  };
  const background = new BackgroundWork(onBackgroundError);
  const notifier = mailNotifier(mailWorker, {
    appName: config.appName,
    templatesDir: config.mailTemplatesDir,
    clock,
  });
  const audit = new AuditLog(opened.store, {
    retention: config.audit.retention,
    clock,
    onError: onBackgroundError,
    ...(options.requestContext ? { context: options.requestContext } : {}),
  });
  // Codes are keyed by a key derived from the JWT secret: rotating that secret also retires the codes
  // then in the mail (links go on working), as it retires every access token.
  // With only asymmetric keys (no secret), the private key that signs is the server's secret.
  const codeKey = deriveKey(config.jwt.secret ?? signingKeyMaterial(config), 'one-time codes');
  const oneTimeTokens = new OneTimeTokens(opened.store, config.oneTimeTokens, notifier, codeKey);
  const flows = new EmailFlows({
    store: opened.store,
    tokens: oneTimeTokens,
    notifier,
    hasher,
    audit,
    links: linkBuilder(config),
    clock,
  });
  const auth = new AuthService({
    store: opened.store,
    notifier,
    audit,
    emailFlows: flows,
    background,
    hasher,
    tokens,
    sessions,
    ...(options.clock ? { clock: options.clock } : {}),
    settings: {
      usernamePattern: config.passwords.usernamePattern,
      authenticatedRole: config.roles.authenticated,
      rolePerUser: config.roles.perUser,
      requireEmailConfirmation: confirmEmailRequired(config),
      resendInterval: config.oneTimeTokens.resendInterval,
    },
  });
  const admin = new AdminService({
    store: opened.store,
    auth,
    flows,
    tokens: oneTimeTokens,
    hasher,
    audit,
    clock,
  });
  // With PostgreSQL every instance shares the windows; otherwise each keeps its own in memory.
  const counter: RateLimitCounter =
    opened.store instanceof PostgresStore
      ? new PostgresRateLimitCounter(opened.store.pool, opened.store.rateLimitTable)
      : new MemoryRateLimitCounter();
  const { trustedProxyHeader: _header, ...rules } = config.rateLimits;
  const rateLimiter = new RateLimiter(counter, rules, options.clock);
  const maintenance = startMaintenance(opened.store, clock, onBackgroundError);
  return {
    config,
    rateLimiter,
    store: opened.store,
    auth,
    flows,
    admin,
    audit,
    hasher,
    tokens,
    fileDatabase: opened.fileDatabase,
    readiness: opened.readiness,
    idle: async () => {
      await background.idle();
      await mailWorker.idle();
    },
    close: async () => {
      clearInterval(maintenance);
      // Work begun after an answer (a mail being queued) finishes first: its request was acknowledged.
      await background.idle();
      await mailWorker.stop();
      await mailer.close();
      await opened.store.close();
    },
  };
}

/** The private key that signs tokens, as text: the secret input of derived keys when no jwt.secret is set. */
function signingKeyMaterial(config: Config): string {
  const { keys, signingKeyId } = config.jwt;
  const signer = keys.find((key) => (signingKeyId ? key.kid === signingKeyId : Boolean(key.privateKey)));
  if (!signer?.privateKey) throw new Error('no jwt secret or signing key');
  return typeof signer.privateKey === 'string' ? signer.privateKey : JSON.stringify(signer.privateKey);
}

/** Hourly upkeep the store needs (PostgreSQL: bounded session tables); the file store bounds itself. */
function startMaintenance(
  store: Store,
  clock: () => Date,
  onError: (error: unknown) => void,
): NodeJS.Timeout | undefined {
  if (!(store instanceof PostgresStore)) return undefined;
  const prune = () => void store.pruneSessions(clock()).catch(onError);
  prune();
  // unref: upkeep alone must not keep the process alive.
  return setInterval(prune, 3_600_000).unref();
}

async function openStore(
  config: Config,
  logger: Logger,
): Promise<{
  store: Store;
  fileDatabase: FileDatabase | null;
  readiness: ReadinessProbe;
  mailQueue: MailOutboxStore;
}> {
  if (config.store.type === 'file') {
    const files = config.store;
    const { db, store } = await openFileStore(files, logger);
    // The mail queue is a file beside the data, under the store's lock; a damaged one refuses the start.
    const mailQueue = await FileMailQueue.open(join(config.stateDir, 'mail-queue.json'), logger).catch(
      async (error: unknown) => {
        await store.close();
        throw error;
      },
    );
    return { store, fileDatabase: db, readiness: () => fileReadiness(files), mailQueue };
  }
  const store = await openPostgresStore(config.store, config.roles, { logger });
  const names = schemaNames(config.store, config.roles);
  // With PostgreSQL the outbox is a table every instance shares.
  const mailQueue = new PostgresMailQueue(store.pool, store.mailOutboxTable);
  return { store, fileDatabase: null, readiness: () => postgresReadiness(store.pool, names), mailQueue };
}
