import { AuthUseCase } from './auth-use-case.js';
import { AuthError } from './errors.js';
import type { PasswordLookup, User } from './ports/store.js';
import { MAX_LOGIN_LENGTH, isEmailLogin, loginKey } from './identity.js';
import type { Client } from './audit.js';
import type { GuessProbe } from './ports/rate-limits.js';

/**
 * invalid_credentials, naming the user the login found (null: none), so the failed sign-in's audit
 * event names it without looking the login up a second time (a round trip on PostgreSQL).
 */
export class CredentialsRefused extends AuthError {
  constructor(readonly userId: string | null) {
    super('invalid_credentials');
  }
}

/**
 * A login and password proven: the user looked up by its login, the hash compared under the
 * per-account guess limit, and a hash of outdated cost upgraded.
 */
export class Credentials extends AuthUseCase {
  /**
   * Checks a login and password, and returns the user with the hash that
   * proved it: a write made with this proof must find that hash still stored
   * (Store.changePassword's compare-and-set, openSignIn's provenHash, updateUser's
   * whilePasswordHashIs). There is no check that answers the user alone: a
   * caller that wrote after it had nothing to check again in its write.
   */
  async proveCredentials(
    login: string,
    password: string,
    client: Client | null,
  ): Promise<{ user: User; hash: string }> {
    const hit = client?.signInHit ?? null;
    if (login.length === 0 || login.length > MAX_LOGIN_LENGTH) {
      await hit?.count();
      await this.deps.hasher.verifyDummy(password);
      throw new CredentialsRefused(null);
    }
    const key = storedLoginKey(login) ?? login;
    const guesses = this.guessesOf(client);
    const probe = guesses.probe(key);
    // The client's sign-in hit is counted with the lookup where the store reads the guess limit's
    // standing with it (one round trip), else on its own first; refused past it before any hashing.
    const clientHit = probe && this.deps.store.findUserWithPasswordHash ? (hit?.take() ?? null) : null;
    if (!clientHit) await hit?.count();
    const found = await this.findWithPasswordHash(login, probe && { ...probe, clientHit });
    if (clientHit && hit) await hit.settle(found?.clientHit);
    const user = found?.user ?? null;
    const hash = found?.passwordHash ?? null;
    const subject = { login: key, userId: user?.id ?? null };
    const dummy = () => this.deps.hasher.verifyDummy(password);
    if (!user || hash === null) {
      // Sure to fail, but counted and refused as an account's check (every spelling of the login one key).
      await guesses.run(subject, found?.guesses, async () => (await dummy(), false), dummy);
      throw new CredentialsRefused(user?.id ?? null);
    }
    const verify = () => this.deps.hasher.verify(password, hash);
    const right = await guesses.run(subject, found?.guesses, verify, dummy);
    if (!right) throw new CredentialsRefused(user.id);
    if (this.deps.hasher.needsRehash(hash)) {
      const upgraded = await this.deps.hasher.hash(password);
      // Only over the hash just verified: the password was changed meanwhile when it moved, and this
      // proof of the old one is worth nothing.
      if (!(await this.deps.store.replacePasswordHash(user.id, upgraded, hash)))
        throw new CredentialsRefused(user.id);
      return { user, hash: upgraded };
    }
    return { user, hash };
  }

  /**
   * Looks a user up by email address when the login has an `@`, else by user
   * name: one or the other, never both, so no name can shadow an address.
   * Both go by their login key (see identity.ts).
   */
  async findByLogin(login: string): Promise<User | null> {
    const key = storedLoginKey(login);
    if (key === null) return null;
    return isEmailLogin(key) ? this.deps.store.findUserByEmail(key) : this.deps.store.findUserByUsername(key);
  }

  /** findByLogin with the user's password hash: one store call where the store can (one round trip). */
  private async findWithPasswordHash(
    login: string,
    guesses: GuessProbe | null,
  ): Promise<PasswordLookup | null> {
    const { store } = this.deps;
    if (!store.findUserWithPasswordHash) {
      const user = await this.findByLogin(login);
      return user && { user, passwordHash: await store.getPasswordHash(user.id) };
    }
    const key = storedLoginKey(login);
    return key === null ? null : store.findUserWithPasswordHash(key, isEmailLogin(key), guesses);
  }
}

/** The login key a stored login could have, or null when none can (no need to ask the store). */
function storedLoginKey(login: string): string | null {
  // No stored login holds NUL (nor is that long): the store may refuse such a key.
  if (login.length > MAX_LOGIN_LENGTH || login.includes('\u0000')) return null;
  const key = loginKey(login);
  return key.length === 0 ? null : key;
}
