import type { Config } from './config/schema.js';
import { AdminService } from './core/admin-service.js';
import { AuditLog } from './core/audit.js';
import { AuthService } from './core/auth-service.js';
import { BackgroundWork } from './core/background.js';
import { isAuthError } from './core/errors.js';
import { EmailFlows, type LinkBuilder } from './core/email-flows.js';
import { PkceFlows } from './core/flow-states.js';
import { Identities } from './core/identities.js';
import { IdentityLinking } from './core/identity-linking.js';
import { OAuthClients, type OAuthClientOptions } from './core/oauth/client.js';
import { OAuthFlows } from './core/oauth/flows.js';
import { SpentIdTokens } from './core/oauth/spent-id-tokens.js';
import { configuredProviders, ProviderConfigError } from './core/oauth/registry.js';
import type { OAuthServices } from './core/oauth/services.js';
import { ProviderTokenSeal } from './core/oauth/provider-token-seal.js';
import { ExternalSignIn } from './core/oauth/sign-in.js';
import { ConfigError } from './config/errors.js';
import { OneTimeTokens } from './core/one-time-tokens.js';
import { PasswordHasher } from './core/passwords.js';
import { deriveKey } from './core/secrets.js';
import { SessionManager } from './core/sessions.js';
import { RateLimiter } from './core/rate-limit.js';
import { AccountGuessLimit } from './core/account-guess-limit.js';
import type { DocumentStore } from './core/ports/documents.js';
import { unobserved } from './core/ports/events.js';
import type { Store } from './core/ports/store.js';
import { TokenService } from './core/tokens.js';
import { mailNotifier } from './mail/mail-notifier.js';
import { MailWorker } from './mail/worker.js';
import { openMailer } from './mail/mailer.js';
import { openBackend } from './stores/index.js';
import { oneProbeAtATime, type ReadinessProbe } from './core/ports/readiness.js';
import type { Metrics } from './metrics/metrics.js';

/** Everything the HTTP layer needs, built once from the frozen config: the composition root. */
export interface Services {
  config: Config;
  store: Store;
  auth: AuthService;
  flows: EmailFlows;
  /** PKCE flows of the mailed links: started by the email flows, their codes exchanged for sessions. */
  pkce: PkceFlows;
  admin: AdminService;
  identities: Identities;
  /** Manual linking's callback half: an OAuth identity linked to the user who asked (linkIdentity). */
  identityLinking: IdentityLinking;
  /** OAuth and OIDC sign-in (external.<provider>). */
  oauth: OAuthServices;
  audit: AuditLog;
  hasher: PasswordHasher;
  tokens: TokenService;
  rateLimiter: RateLimiter;
  /** The JSON document the data API serves, when the backend keeps one (file mode). */
  documents: DocumentStore | null;
  /** Whether this instance can serve now (the store answers, migrations applied, folders writable). */
  readiness: ReadinessProbe;
  /** The Prometheus metrics, when `metrics.enabled`. */
  metrics: Metrics | null;
  /** The clock the auth rules read (ServiceOptions.clock, else the wall clock). */
  clock: () => Date;
  /**
   * Resolves once the work begun after answers has settled and the mail worker
   * has sent (or failed) every mail it was handed: what a test awaits instead of sleeping.
   */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface Logger {
  info(message: string): void;
  /** `error`, when given, is what failed: logged with it (its stack, its code), not only its message. */
  warn(message: string, error?: unknown): void;
}

export interface ServiceOptions {
  /** The clock the auth rules read (tests move it instead of sleeping). */
  clock?: () => Date;
  /**
   * False for a one-shot command (`restauth users`): no mail is sent and no upkeep runs while it works.
   * A mail it queues waits for the server, which sends it; a command must not race the server for the
   * queue, nor take minutes to exit because a mail server is slow.
   */
  workers?: boolean;
  /** What requests to OAuth providers go through (default: fetch); tests route a provider's host to a test IdP. */
  providerFetch?: OAuthClientOptions['fetch'];
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
  // A provider that cannot work stops the start before anything opens.
  const providers = oauthProviders(config, logger);
  const backend = await openBackend(config, logger);
  // prom-client is loaded only when the metrics are on.
  const metrics = config.metrics.enabled ? new (await import('./metrics/metrics.js')).Metrics() : null;
  metrics?.watchBackend(backend.outbox, backend);
  const store = metrics ? metrics.timeStore(backend.store) : backend.store;
  const hasher = new PasswordHasher(config.passwords, (message) => logger.warn(`restauth: ${message}`));
  await hasher.prepare();
  const tokens = new TokenService({
    ...config.jwt,
    keys: config.jwt.keys.map((key) => ({ ...key })),
  });
  const sessionKeySource = config.jwt.secret ?? signingKeyMaterial(config);
  const sessions = new SessionManager(store, config.sessions, {
    imported: deriveKey(sessionKeySource, 'imported refresh tokens'),
    successors: deriveKey(sessionKeySource, 'refresh token successors'),
  });
  const opened = await openMailer(config, logger);
  const mailer = metrics ? metrics.countMail(opened) : opened;
  const mailWorker = new MailWorker(backend.outbox, mailer, logger, {
    leaseMs: config.mailQueue.lease * 1000,
    pollMs: config.mailQueue.poll * 1000,
    // Retried while the links it carries are valid: an SMTP outage of minutes loses no mail.
    retryForMs: config.oneTimeTokens.ttl * 1000,
  });
  const workers = options.workers ?? true;
  if (workers) mailWorker.start();
  const clock = options.clock ?? (() => new Date());
  // An outage is logged once by the store (see stores/postgres/faults.ts), not by each write it fails.
  const onBackgroundError = (error: unknown) => {
    if (!(isAuthError(error) && error.code === 'store_unavailable')) {
      logger.warn(`restauth: ${(error as Error).message}`, error);
    }
  };
  const background = new BackgroundWork(onBackgroundError);
  const notifier = mailNotifier({
    appName: config.appName,
    templatesDir: config.mailTemplatesDir,
    clock,
  });
  const audit = new AuditLog(store, {
    retention: config.audit.retention,
    clock,
    onError: onBackgroundError,
  });
  // Codes are keyed by a key derived from the JWT secret: rotating that secret also retires the codes
  // then in the mail (links go on working), as it retires every access token.
  // With only asymmetric keys (no secret), the private key that signs is the server's secret.
  const codeKey = deriveKey(config.jwt.secret ?? signingKeyMaterial(config), 'one-time codes');
  const oneTimeTokens = new OneTimeTokens(store, config.oneTimeTokens, codeKey, backend.rateLimits);
  const serverSecret = config.jwt.secret ?? signingKeyMaterial(config);
  const providerTokenSeal = new ProviderTokenSeal(deriveKey(serverSecret, 'oauth provider tokens'));
  const pkce = new PkceFlows({
    flowStates: backend.flowStates,
    store,
    clock,
    settings: { linkTtl: config.oneTimeTokens.ttl },
    providerTokenSeal,
  });
  const { trustedProxyHeader: _header, passwordGuesses, ...rules } = config.rateLimits;
  const rateLimiter = new RateLimiter(backend.rateLimits, rules, options.clock, metrics?.authEvents);
  const flows = new EmailFlows({
    store,
    oneTimeTokens,
    pkce,
    notifier,
    hasher,
    audit,
    links: linkBuilder(config),
    clock,
    background,
    limitRecipient: (address) => rateLimiter.check('recovery', `recipient:${address}`),
    confirmsWithoutProof: !confirmEmailRequired(config),
  });
  const auth = new AuthService({
    store,
    notifier,
    audit,
    emailFlows: flows,
    pkce,
    background,
    hasher,
    tokens,
    sessions,
    passwordGuesses: new AccountGuessLimit(backend.rateLimits, passwordGuesses, clock, metrics?.authEvents),
    ...(metrics ? { events: metrics.authEvents } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    settings: {
      usernamePattern: config.passwords.usernamePattern,
      authenticatedRole: config.roles.authenticated,
      rolePerUser: config.roles.perUser,
      reservedRoles: [config.roles.anonymous, config.roles.authenticated, config.roles.service].concat(
        config.roles.authenticator ?? [],
      ),
      requireEmailConfirmation: confirmEmailRequired(config),
      passwordChangeRequiresReauthentication: config.passwords.requireReauthentication,
      maxUserDataBytes: config.bodyLimit,
    },
  });
  const admin = new AdminService({
    store,
    auth,
    flows,
    pkce,
    oneTimeTokens,
    hasher,
    audit,
    sessions,
    clock,
    maxUserDataBytes: config.bodyLimit,
  });
  const oauth: OAuthServices = {
    clients: new OAuthClients(providers, {
      clockTolerance: config.jwt.clockTolerance,
      timeoutSeconds: config.identities.providerTimeout,
      answerLimit: config.identities.providerAnswerLimit,
      answerBudget: config.identities.providerAnswerBudget,
      ...(options.providerFetch ? { fetch: options.providerFetch } : {}),
    }),
    flows: new OAuthFlows({
      flowStates: backend.flowStates,
      clock,
      key: deriveKey(serverSecret, 'oauth flows'),
      seal: providerTokenSeal,
      bindsBrowser: config.identities.oauthBrowserBinding,
    }),
    spentIdTokens: new SpentIdTokens({
      flowStates: backend.flowStates,
      clock,
      clockTolerance: config.jwt.clockTolerance,
    }),
    signIn: new ExternalSignIn({
      store,
      pkce,
      hasher,
      emailFlows: flows,
      audit,
      clock,
      settings: {
        signupEnabled: config.signup.enabled,
        requireEmailConfirmation: confirmEmailRequired(config),
      },
    }),
    events: metrics?.authEvents ?? unobserved,
  };
  metrics?.watchProviderAnswers(oauth.clients.answerBudget);
  // Tracked as background work: close waits for a prune under way, and a test awaits it with idle().
  const upkeep = () =>
    background.run(async () => {
      const now = clock();
      await backend.upkeep(now);
      await sessions.pruneEnded(now);
      await pkce.prune(now);
      await oauth.spentIdTokens.prune(now);
    });
  if (workers) upkeep();
  // unref: upkeep alone must not keep the process alive.
  const upkeepTimer = workers ? setInterval(upkeep, 3_600_000).unref() : undefined;
  return {
    config,
    rateLimiter,
    store,
    auth,
    flows,
    pkce,
    admin,
    identities: new Identities(store, audit, clock),
    identityLinking: new IdentityLinking({ store, sessions, audit, emailFlows: flows, clock }),
    oauth,
    audit,
    hasher,
    tokens,
    documents: backend.documents ?? null,
    readiness: oneProbeAtATime(backend.readiness),
    metrics,
    clock,
    idle: async () => {
      await background.idle();
      await mailWorker.idle();
    },
    close: async () => {
      clearInterval(upkeepTimer);
      // Work begun after an answer (a mail being queued) finishes first: its request was acknowledged.
      await background.idle();
      await mailWorker.stop();
      await mailer.close();
      await rateLimiter.close();
      await backend.close();
      await hasher.close();
    },
  };
}

/** The enabled OAuth and OIDC providers; their callback is GoTrue's GET /callback at restauth's public address. */
function oauthProviders(config: Config, logger: Logger) {
  const callbackUrl = `${publicUrl(config)}${config.dialects.gotrue.prefix}/callback`;
  try {
    return configuredProviders(config.external, callbackUrl, {
      development: config.development,
      warn: (message) => logger.warn(`restauth: ${message}`),
    });
  } catch (error) {
    if (error instanceof ProviderConfigError) throw new ConfigError(error.message);
    throw error;
  }
}

/** The private key that signs tokens, as text: the secret input of derived keys when no jwt.secret is set. */
function signingKeyMaterial(config: Config): string {
  const { keys, signingKeyId } = config.jwt;
  const signer = keys.find((key) => (signingKeyId ? key.kid === signingKeyId : Boolean(key.privateKey)));
  if (!signer?.privateKey) throw new Error('no jwt secret or signing key');
  return typeof signer.privateKey === 'string' ? signer.privateKey : JSON.stringify(signer.privateKey);
}
