import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DropReason, Listener } from '../http/dropped-connections.js';
import { droppedStandardErrorLines, droppedStandardOutputLines } from '../http/standard-output.js';
import type { AuthEvents, OAuthCallbackRefusal, SignInMethod } from '../core/ports/events.js';
import type { MailOutboxStore } from '../core/ports/outbox.js';
import type { Store } from '../core/ports/store.js';
import type { ByteBudget } from '../lib/byte-budget.js';
import type { RateLimitFamily } from '../core/rate-limit.js';
import type { Mailer } from '../mail/mailer.js';
import type { Backend, JournalState } from '../stores/backend.js';

/** What the metrics read of a byte budget at each scrape. */
type WatchedBudget = Pick<ByteBudget, 'held' | 'refused'>;

/** Seconds: from a fast store read (1 ms) to a slow hashed sign-in or a hung database (10 s). */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * restauth's Prometheus metrics, in a registry of their own (one per
 * server: tests run several in a process). Labels take bounded values only:
 * a route pattern, never a URL; an error code, never a message.
 */
export class Metrics {
  readonly registry = new Registry();

  private readonly requests = new Counter({
    name: 'restauth_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  private readonly requestDuration = new Histogram({
    name: 'restauth_http_request_duration_seconds',
    help: 'Time from a request to its answer, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  private readonly signIns = new Counter({
    name: 'restauth_sign_ins_total',
    help: 'Sign-ins by method (password, email, pkce, signup, anonymous, oauth, id_token) and outcome: success, or the error code (invalid_credentials, email_not_confirmed, user_banned ...)',
    labelNames: ['method', 'outcome'] as const,
    registers: [this.registry],
  });

  private readonly reuses = new Counter({
    name: 'restauth_refresh_token_reuse_total',
    help: 'Spent refresh tokens presented again after their grace period (each ended its session)',
    registers: [this.registry],
  });

  private readonly refusals = new Counter({
    name: 'restauth_rate_limit_refusals_total',
    help: 'Requests refused for going past a rate limit, by route family',
    labelNames: ['family'] as const,
    registers: [this.registry],
  });

  private readonly oauthRefusals = new Counter({
    name: 'restauth_oauth_callback_refusals_total',
    help: 'OAuth/OIDC callbacks that signed nobody in, by provider and reason (state, callback, provider_error, exchange, id_token, profile, signup_disabled, user_banned, email_unverified, identity, other)',
    labelNames: ['provider', 'reason'] as const,
    registers: [this.registry],
  });

  private readonly mailsSent = new Counter({
    name: 'restauth_mails_sent_total',
    help: 'Mails the SMTP server (or the development outbox) accepted',
    registers: [this.registry],
  });

  private readonly mailsFailed = new Counter({
    name: 'restauth_mails_failed_total',
    help: 'Attempts to send a mail that failed (each is retried until it is given up)',
    registers: [this.registry],
  });

  private readonly storeDuration = new Histogram({
    name: 'restauth_store_operation_duration_seconds',
    help: 'Time of the store operations the use cases call, by operation',
    labelNames: ['operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  private readonly droppedConnections = new Counter({
    name: 'restauth_http_connections_dropped_total',
    help: 'Client connections restauth closed by a bound, by listener (main, metrics) and reason: maxConnections (closed as it came, unanswered), requestTimeout (a request not sent within it, answered 408), answerMinRate (an answer left unread, or read slower), requestHeaderBudget (an unfinished header section among the largest when all passed the budget, answered 503)',
    labelNames: ['listener', 'reason'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Counted where they are dropped (one count per process).
    this.total(
      'restauth_log_lines_dropped_total',
      'Log lines dropped because standard output was full (its reader not reading) with 4 MB held',
      droppedStandardOutputLines,
    );
    this.total(
      'restauth_stderr_lines_dropped_total',
      'Lines to standard error (warnings, errors) dropped because it was full (its reader not reading) with 4 MB held',
      droppedStandardErrorLines,
    );
  }

  /** What core reports (sign-ins, refresh-token reuse, rate-limit refusals), counted. */
  readonly authEvents: AuthEvents = {
    signIn: (outcome: string, method: SignInMethod) => this.signIns.inc({ method, outcome }),
    refreshTokenReused: () => this.reuses.inc(),
    rateLimited: (family: RateLimitFamily | 'passwordGuesses') => this.refusals.inc({ family }),
    oauthCallbackRefused: (provider: string, reason: OAuthCallbackRefusal) =>
      this.oauthRefusals.inc({ provider, reason }),
  };

  /** Counts one answered request; `route` is the matched pattern (null: no route matched). */
  observeRequest(method: string, route: string | null, status: number, seconds: number): void {
    const labels = { method, route: route ?? 'unmatched', status: String(status) };
    this.requests.inc(labels);
    this.requestDuration.observe(labels, seconds);
  }

  /** The counter of `listener`'s dropped connections, each reason's series shown from 0 (an alert's rate). */
  connectionsDropped(listener: Listener): (reason: DropReason) => void {
    for (const reason of [
      'maxConnections',
      'maxConnectionsPerClient',
      'requestTimeout',
      'answerMinRate',
      'requestHeaderBudget',
    ] as const)
      this.droppedConnections.inc({ listener, reason }, 0);
    return (reason) => this.droppedConnections.inc({ listener, reason });
  }

  /** The mailer, counting what it sends and what fails. */
  countMail(mailer: Mailer): Mailer {
    return {
      send: async (message, options) => {
        try {
          await mailer.send(message, options);
        } catch (error) {
          this.mailsFailed.inc();
          throw error;
        }
        this.mailsSent.inc();
      },
      close: () => mailer.close(),
    };
  }

  /**
   * The store, each of its asynchronous operations timed. A proxy rather than
   * a wrapper class: every operation of the port, present and future, is
   * timed without being listed here.
   */
  timeStore(store: Store): Store {
    const timed = new Map<PropertyKey, unknown>();
    const histogram = this.storeDuration;
    return new Proxy(store, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        let wrapped = timed.get(property);
        if (wrapped === undefined) {
          const operation = String(property);
          wrapped = (...args: unknown[]) => {
            const started = performance.now();
            const result: unknown = Reflect.apply(value, target, args);
            if (!(result instanceof Promise)) return result;
            return result.finally(() =>
              histogram.observe({ operation }, (performance.now() - started) / 1000),
            );
          };
          timed.set(property, wrapped);
        }
        return wrapped;
      },
    });
  }

  /** A gauge read at each scrape: the requests being handled (their client connected or not). */
  watchRequestsInFlight(count: () => number): void {
    new Gauge({
      name: 'restauth_http_requests_in_flight',
      help: 'HTTP requests being handled, whether or not their client is still connected',
      registers: [this.registry],
      collect() {
        this.set(count());
      },
    });
  }

  /** Request bodies received and not yet answered (requestBodyBudget): bytes held, bodies refused. */
  watchRequestBodies(budget: WatchedBudget): void {
    this.budget(budget, {
      held: 'restauth_http_request_body_bytes_held',
      heldHelp: 'Bytes of request bodies received and not yet answered, across every request',
      refused: 'restauth_http_request_bodies_refused_total',
      refusedHelp: 'Request bodies refused 503 because the bodies being received passed requestBodyBudget',
    });
  }

  /** Identity providers' answers being read (identities.providerAnswerBudget): bytes held, answers refused. */
  watchProviderAnswers(budget: WatchedBudget): void {
    this.budget(budget, {
      held: 'restauth_provider_answer_bytes_held',
      heldHelp: "Bytes of identity providers' answers read and not yet done with, across every sign-in",
      refused: 'restauth_provider_answers_cut_total',
      refusedHelp:
        "Identity providers' answers cut off because all answers being read passed identities.providerAnswerBudget",
    });
  }

  /** A byte budget (lib/byte-budget.ts): a gauge of the bytes it holds, a counter of what it refused. */
  private budget(
    budget: WatchedBudget,
    names: { held: string; heldHelp: string; refused: string; refusedHelp: string },
  ): void {
    new Gauge({
      name: names.held,
      help: names.heldHelp,
      registers: [this.registry],
      collect() {
        this.set(budget.held);
      },
    });
    this.total(names.refused, names.refusedHelp, () => budget.refused);
  }

  /**
   * Gauges read at each scrape: the mail queue's depth, (PostgreSQL) the pool's connections and
   * (file store) its journals.
   */
  watchBackend(outbox: MailOutboxStore, backend: Pick<Backend, 'connections' | 'journals'>): void {
    const journals = backend.journals?.bind(backend);
    if (journals) this.watchJournals(journals);
    const connections = backend.connections?.bind(backend);
    // Registered first: read before the depth's query takes a connection from the pool it describes.
    if (connections) {
      new Gauge({
        name: 'restauth_db_pool_connections',
        help: 'PostgreSQL pool connections: total open, idle, and requests waiting for one',
        labelNames: ['state'] as const,
        registers: [this.registry],
        collect() {
          const now = connections();
          this.set({ state: 'total' }, now.total);
          this.set({ state: 'idle' }, now.idle);
          this.set({ state: 'waiting' }, now.waiting);
        },
      });
    }
    new Gauge({
      name: 'restauth_mail_queue_depth',
      help: 'Mails waiting to be sent (being sent and waiting for a retry included; given-up ones not)',
      registers: [this.registry],
      async collect() {
        // A store that cannot answer leaves the last value: the scrape itself must not fail.
        const depth = await outbox.depth().catch(() => null);
        if (depth !== null) this.set(depth);
      },
    });
  }

  /**
   * The file store's compactions: one that keeps failing is otherwise seen only in the log, and a
   * full journal only as 507s among restauth_http_requests_total.
   */
  private watchJournals(journals: () => JournalState): void {
    this.flag(
      'restauth_file_compaction_failing',
      'File store: 1 while compactions fail (a file or the audit log cannot be written; retried every second), else 0',
      () => journals().compactionFailing,
    );
    // The database counts them.
    this.total(
      'restauth_file_compaction_failures_total',
      'File store: compactions (and their retries) that failed',
      () => journals().compactionFailures,
    );
    this.flag(
      'restauth_file_journals_full',
      'File store: 1 while a journal is at its bound because compactions fail, so writes are refused (507), else 0',
      () => journals().journalsFull,
    );
    this.flag(
      'restauth_file_audit_prune_failing',
      'File store: 1 while the audit log cannot be pruned (its retention not applied; it grows to a bound, then refuses events), else 0',
      () => journals().auditPruneFailing,
    );
    new Gauge({
      name: 'restauth_file_journal_bytes',
      help: 'File store: the size of each journal not yet folded into its file (data: db.json, credentials: credentials.json)',
      labelNames: ['journal'] as const,
      registers: [this.registry],
      collect() {
        const { bytes } = journals();
        this.set({ journal: 'data' }, bytes.data);
        this.set({ journal: 'credentials' }, bytes.credentials);
      },
    });
  }

  /** A gauge read at each scrape that is 1 while a condition holds, else 0 (an alert's plain test). */
  private flag(name: string, help: string, isSet: () => boolean): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(isSet() ? 1 : 0);
      },
    });
  }

  /** A counter read at each scrape from a count kept elsewhere, which only grows. */
  private total(name: string, help: string, count: () => number): void {
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(count());
      },
    });
  }

  /** The text a scrape gets, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
