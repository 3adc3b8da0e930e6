import type { IssuedSession } from '../../../core/auth-service.js';
import type { Identities } from '../../../core/identities.js';
import type { User } from '../../../core/ports/store.js';
import { sessionJson, userJson, type UserJsonExtras, type UserWire } from './wire.js';

/**
 * The user object and the session answer with the user's identities, as
 * GoTrue answers every route that shows a user (its handlers load them with
 * the user). Every GoTrue route that answers a user goes through here.
 */
export interface UserAnswers {
  user(user: User, extras?: Omit<UserJsonExtras, 'identities'>): Promise<ReturnType<typeof userJson>>;
  session(issued: IssuedSession): Promise<ReturnType<typeof sessionJson>>;
  /** Users in a list (the admin API's page), their identities read in one lookup for the page. */
  users(users: readonly User[]): Promise<ReturnType<typeof userJson>[]>;
}

export function userAnswers(identities: Identities, wire: UserWire): UserAnswers {
  return {
    user: async (user, extras = {}) =>
      userJson(user, wire, { ...extras, identities: await identities.of(user.id) }),
    // A refresh's identities were read with its token (IssuedSession.identities): no second lookup.
    session: async (issued) =>
      sessionJson(issued, wire, issued.identities ?? (await identities.of(issued.user.id))),
    users: async (users) => {
      const listed = await identities.ofUsers(users.map((user) => user.id));
      return users.map((user) => userJson(user, wire, { identities: listed.get(user.id) ?? [] }));
    },
  };
}
