import { createHash } from 'node:crypto';
import { AuthError } from '../errors.js';
import type { FlowStateStore } from '../ports/flow-states.js';

export interface SpentIdTokenDeps {
  flowStates: Pick<FlowStateStore, 'spendIdToken' | 'pruneSpentIdTokens'>;
  clock: () => Date;
  /** The seconds an expired id_token still verifies (jwt.clockTolerance): it is kept as long. */
  clockTolerance: number;
}

/**
 * signInWithIdToken's id_tokens sign in once. GoTrue accepts one again until it expires, so an
 * id_token that leaked (a log, a proxy, a compromised app) signs its user in over and over; here
 * the first sign-in spends it and a replay is refused. The key is the SHA-256 of the token's
 * signed part (header and payload), not of the whole token: an ECDSA signature can be rewritten
 * into another valid one (s and n - s both verify), so the same id_token has several spellings,
 * while its signed part has one. Not `jti`: Google's and Apple's id_tokens carry none. Kept until
 * the token no longer verifies (its `exp` plus the clock tolerance), then the upkeep forgets it.
 */
export class SpentIdTokens {
  constructor(private readonly deps: SpentIdTokenDeps) {}

  /** Spends the verified `idToken` (its `payload`); a 400 when it was spent before. */
  async spend(idToken: string, payload: Record<string, unknown>): Promise<void> {
    const signedPart = idToken.slice(0, idToken.lastIndexOf('.'));
    const hash = createHash('sha256').update(signedPart).digest('base64url');
    const exp = typeof payload['exp'] === 'number' ? payload['exp'] : this.deps.clock().getTime() / 1000;
    const keepUntil = new Date((exp + this.deps.clockTolerance) * 1000);
    if (!(await this.deps.flowStates.spendIdToken(hash, keepUntil))) {
      throw new AuthError('validation_failed', 'ID token has already been used');
    }
  }

  /** The upkeep: forgets the spent id_tokens that no longer verify. Returns how many. */
  prune(now: Date): Promise<number> {
    return this.deps.flowStates.pruneSpentIdTokens(now);
  }
}
