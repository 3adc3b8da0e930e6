import { datedAhead } from './clock-skew.js';
import { randomId } from './secrets.js';
import type { AuditEvent, AuditPage, Store } from './ports/store.js';
import type { DeferredHit } from './rate-limit-deferred.js';

/** The security events restauth records (GoTrue's audit log actions, where it has one). */
export type AuditAction =
  | 'sign_up'
  | 'sign_in'
  | 'sign_in_failed'
  | 'refresh_token_reused'
  | 'password_changed'
  | 'password_recovered'
  | 'email_confirmed'
  | 'email_changed'
  | 'identity_linked'
  | 'logout'
  | 'admin_user_created'
  | 'admin_user_updated'
  | 'admin_user_deleted'
  | 'admin_user_signed_out'
  | 'admin_factor_deleted'
  | 'admin_factor_updated'
  | 'admin_link_generated'
  | 'user_invited'
  | 'user_reauthenticate_requested'
  | 'identity_linked'
  | 'identity_unlinked';

export interface AuditEntry {
  userId?: string | null;
  /** Defaults to the user concerned: most events are done by the user themself. */
  actorId?: string | null;
  data?: Record<string, unknown>;
}

/**
 * Who asked for a use case, as its audit events record them. Passed by hand from the route down:
 * AsyncLocalStorage would save the parameter, but on Node 20 its promise hooks then run for every
 * promise of every request (5-9 µs of an authenticated data-API read).
 */
export interface Client {
  /** The client's address (behind a trusted proxy, the one it names); null for a command run on the host. */
  ip: string | null;
  /**
   * The request's per-client sign-in hit, left for the password check to count with its lookup
   * (RateLimiter.defer): absent when the route counted it already.
   */
  signInHit?: DeferredHit | null;
}

/** A use case called on the host, not over the network (`restauth users`, a test): no address. */
export const LOCAL_CALL: Client = Object.freeze({ ip: null });

/**
 * Records security events in the store and prunes them past the retention.
 * Recording never fails a use case: a store error is reported and the
 * request goes on (losing an audit line is better than refusing a sign-in).
 */
export class AuditLog {
  private lastPrune = 0;

  constructor(
    private readonly store: Store,
    private readonly settings: {
      retention: number;
      clock?: () => Date;
      onError?: (error: unknown) => void;
    },
  ) {}

  async record(action: AuditAction, client: Client, entry: AuditEntry = {}): Promise<void> {
    try {
      const event = this.event(action, client, entry);
      await this.store.recordAuditEvent(event);
      await this.pruneHourly(event.at);
    } catch (error) {
      this.settings.onError?.(error);
    }
  }

  /** The event record() stores, for a store that writes it with a use case's writes (Store.openSignIn). */
  event(action: AuditAction, client: Client, entry: AuditEntry = {}): AuditEvent {
    const userId = entry.userId ?? null;
    return {
      id: randomId(),
      at: this.now(),
      action,
      userId,
      actorId: entry.actorId === undefined ? userId : entry.actorId,
      ip: client.ip,
      data: entry.data ?? {},
    };
  }

  /** After an event() was stored with a use case's writes: the upkeep record() does (never throws). */
  async stored(event: AuditEvent): Promise<void> {
    try {
      await this.pruneHourly(event.at);
    } catch (error) {
      this.settings.onError?.(error);
    }
  }

  list(options: { page: number; perPage: number; userId?: string }): Promise<AuditPage> {
    return this.store.listAuditEvents(options);
  }

  /**
   * Deletes what is past the retention, at most once an hour (a cheap check on the write path). A
   * last prune dated ahead of now was made before the clock went back: pruning does not wait for the
   * clock to catch up with it, or the log would keep everything for the whole jump.
   */
  private async pruneHourly(now: Date): Promise<void> {
    const sinceLast = now.getTime() - this.lastPrune;
    if (sinceLast < 3_600_000 && !datedAhead(new Date(this.lastPrune), now)) return;
    this.lastPrune = now.getTime();
    await this.store.pruneAuditEvents(new Date(now.getTime() - this.settings.retention * 1000));
  }

  private now(): Date {
    return this.settings.clock ? this.settings.clock() : new Date();
  }
}
