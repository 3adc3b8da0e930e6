import { createHmac, randomInt } from 'node:crypto';
import { loginKey } from './identity.js';
import { hashSecret, randomSecret } from './secrets.js';
import { datedAhead } from './clock-skew.js';
import { AuthError } from './errors.js';
import { isBanned } from './banned.js';
import type { OutgoingMail } from './notifier.js';
import type { RateLimitCounter } from './ports/rate-limits.js';
import {
  CodeHashInUseError,
  type OneTimeToken,
  type OneTimeTokenConditions,
  type SpendConditions,
  type Store,
} from './ports/store.js';

export interface OneTimeTokenSettings {
  /** Seconds a link or code stays valid. */
  ttl: number;
  /** Least seconds between two tokens of one purpose for one user (mail throttling). */
  resendInterval: number;
}

/** Renders the mails that carry a token just drawn (they are stored with it). */
export type TokenMail = (issued: IssuedOneTimeToken) => Promise<OutgoingMail[]>;

/** A token just issued: the link secret and the 6-digit code that both spend it. */
export interface IssuedOneTimeToken {
  token: string;
  code: string;
  expiresAt: Date;
}

/**
 * Wrong codes a token's code survives: the next one retires the code. The link lives on (a few
 * wrong codes from anyone who knows the address must not spend its owner's link). GoTrue has no such count.
 */
const MAX_CODE_FAILURES = 5;

/**
 * Wrong codes one address takes within CODE_MISS_WINDOW_MS, whatever tokens they were aimed at; past
 * them no code to that address is tried until the window ends (its links still work). A token's own
 * MAX_CODE_FAILURES start again with each new mail, and anyone may ask for one a minute: five
 * guesses a minute were about 7,200 a day at a million codes, some 0.7 % a day. Now 30 a day, 0.003 %.
 */
export const MAX_ADDRESS_CODE_MISSES = 30;
export const CODE_MISS_WINDOW_MS = 86_400_000;
/** The counter key of an address's wrong codes (its login key follows). */
const CODE_MISSES_PREFIX = 'codeMisses:';

/**
 * Single-use tokens for links and codes sent by mail. Each is one stored
 * record with two secrets: the link's 256-bit random secret (stored as its
 * SHA-256) and a 6-digit code. A code is guessable, so it is kept apart from
 * the link: it is hashed with a server key (HMAC, bound to the address it was
 * mailed to and its purpose: a code alone names no account, and nobody
 * without the key can compute a code's hash to present it as a link), only
 * ever looked up together with its address, and the code dies after
 * MAX_CODE_FAILURES wrong codes for that address (the link does not), and every code to an address
 * after MAX_ADDRESS_CODE_MISSES in a day. Using either secret spends both.
 */
export class OneTimeTokens {
  constructor(
    private readonly store: Store,
    private readonly settings: OneTimeTokenSettings,
    /** The HMAC key of codes: derived from the configured secret (see compose.ts). */
    private readonly codeKey: Buffer,
    /** Where an address's wrong codes are counted (MAX_ADDRESS_CODE_MISSES); none: not counted. */
    private readonly misses: RateLimitCounter | null = null,
  ) {}

  /**
   * Issues a token, replacing the user's earlier one of the same purpose.
   * Returns null, issuing nothing, when one was issued less than
   * resendInterval ago: callers then answer as if it had been sent, so the
   * throttle tells nobody whether an account exists. The store checks and
   * replaces in one step: of racing requests one mails, the others are throttled.
   * Null too when the user is banned by then (the store checks it in the same write):
   * every caller looked the ban up before, but a ban committed since still mailed. With
   * `whileAddressIs` (a mail to the account's own address: the address the caller read), null too
   * when the account has moved to another address since: the former one is not mailed.
   */
  async issue(
    userId: string,
    recipient: string,
    purpose: string,
    now: Date,
    data: Record<string, unknown> = {},
    mail?: TokenMail,
    conditions: Pick<OneTimeTokenConditions, 'whileAddressIs'> = {},
  ): Promise<IssuedOneTimeToken | null> {
    const since = new Date(now.getTime() - this.settings.resendInterval * 1000);
    return this.storeToken(userId, recipient, purpose, now, data, mail, {
      ...conditions,
      unlessIssuedAfter: since,
      unlessBannedAt: now,
    });
  }

  /**
   * Issues without the throttle (admin generate_link, the second mail of an
   * email change). `mail` renders the mails that carry it: the store keeps
   * them with the token, both or neither, and the mail worker sends them.
   * With `unlessBannedAt` (every mail but an administrator's link, which mails nothing), a user
   * banned by then gets neither: AuthError user_banned (a ban committed since the caller read the
   * user still mailed an invitation, or an email change's second address). A user deleted since
   * gets neither either: user_not_found. With `whileAddressIs`, an account moved to another address
   * since gets neither: conflict (409).
   */
  async issueNow(
    userId: string,
    recipient: string,
    purpose: string,
    now: Date,
    data: Record<string, unknown> = {},
    mail?: TokenMail,
    conditions: Pick<OneTimeTokenConditions, 'unlessBannedAt' | 'whileAddressIs'> = {},
  ): Promise<IssuedOneTimeToken> {
    const issued = await this.storeToken(userId, recipient, purpose, now, data, mail, conditions);
    if (issued) return issued;
    // Refused only for a user banned, deleted or moved since the caller read it: said as it is.
    const user = await this.store.findUserById(userId);
    if (user === null) throw new AuthError('user_not_found');
    if (conditions.unlessBannedAt && isBanned(user, conditions.unlessBannedAt))
      throw new AuthError('user_banned');
    if (conditions.whileAddressIs !== undefined)
      throw new AuthError('conflict', 'The user’s email address changed meanwhile');
    if (conditions.unlessBannedAt) throw new AuthError('user_banned');
    throw new Error('an unthrottled one-time token was not stored');
  }

  private async storeToken(
    userId: string,
    recipient: string,
    purpose: string,
    now: Date,
    data: Record<string, unknown>,
    mail: TokenMail | undefined,
    conditions: OneTimeTokenConditions,
  ): Promise<IssuedOneTimeToken | null> {
    const token = randomSecret();
    const expiresAt = new Date(now.getTime() + this.settings.ttl * 1000);
    const address = loginKey(recipient);
    // Two live tokens for one address and purpose may draw the same code: draw again.
    for (let attempt = 1; ; attempt++) {
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
      const issued = { token, code, expiresAt };
      // Rendered per draw: the mail shows the code.
      const mails = mail ? await mail(issued) : [];
      const record = {
        hash: hashSecret(token),
        codeHash: this.codeHash(address, purpose, code),
        recipient: address,
      };
      try {
        const written = await this.store.createOneTimeToken(
          { ...record, userId, purpose, createdAt: now, expiresAt, data },
          mails,
          conditions,
        );
        if (!written.stored) return null;
        return issued;
      } catch (error) {
        if (!(error instanceof CodeHashInUseError) || attempt >= 5) throw error;
      }
    }
  }

  /**
   * Spends a link token of any of `purposes`; null when none matches (absent, used, expired). One
   * that `conditions` refuse stays unspent (Store's SpendConditions).
   */
  async consumeLink(
    token: string,
    purposes: readonly string[],
    now: Date,
    conditions: SpendConditions = {},
  ): Promise<OneTimeToken | null> {
    const hash = hashSecret(token);
    for (const purpose of purposes) {
      const consumed = await this.store.consumeOneTimeToken(hash, purpose, now, conditions);
      if (consumed) return issuedBefore(consumed, now);
    }
    return null;
  }

  /**
   * Spends a code mailed to `recipient` for any of `purposes`. A wrong code
   * counts against the recipient's live tokens of those purposes (see MAX_CODE_FAILURES).
   */
  async consumeCode(
    recipient: string,
    code: string,
    purposes: readonly string[],
    now: Date,
    conditions: SpendConditions = {},
  ): Promise<OneTimeToken | null> {
    const address = loginKey(recipient);
    const missesKey = `${CODE_MISSES_PREFIX}${address}`;
    const misses = await this.misses?.peek(missesKey, CODE_MISS_WINDOW_MS, now);
    // Past the address's budget the code is not looked at, right or wrong: answered as a wrong one.
    if (misses && misses.count >= MAX_ADDRESS_CODE_MISSES) return null;
    // Anything but six digits is a wrong code too: it counts.
    const typed = /^\d{6}$/u.test(code) ? code : '';
    const consumed = await this.store.consumeOneTimeCode({
      recipient: address,
      candidates: purposes.map((purpose) => ({ purpose, codeHash: this.codeHash(address, purpose, typed) })),
      now,
      maxFailures: MAX_CODE_FAILURES,
      conditions,
    });
    // A code found but kept (its user banned, moved from the address since) counts as a miss too.
    if (consumed === null) await this.misses?.hit(missesKey, CODE_MISS_WINDOW_MS, now);
    return consumed && issuedBefore(consumed, now);
  }

  private codeHash(address: string, purpose: string, code: string): string {
    return createHmac('sha256', this.codeKey).update(`${address}\n${purpose}\n${code}`).digest('base64url');
  }
}

/**
 * A spent token, or null when it was issued further ahead of now than instances' clocks differ: it was
 * issued before the clock went back, so its expiry lies the whole jump further off than its lifetime
 * (an hour's link would work for a day more). Spent either way: the user asks for another.
 */
function issuedBefore(token: OneTimeToken, now: Date): OneTimeToken | null {
  return datedAhead(token.createdAt, now) ? null : token;
}
