import type { OutgoingMail } from './ports/outbox.js';
import type { User } from './ports/store.js';

export type { OutgoingMail } from './ports/outbox.js';

export type Recipient = User & { email: string };

/**
 * What a one-time mail carries: a link to follow, a code to type, and/or a
 * token to paste (postgrest-auth's reset_token), whichever the flow uses; the
 * mail shows only those given.
 */
export interface OneTimeSecret {
  link?: string;
  code?: string;
  token?: string;
  expiresAt: Date;
}

/**
 * What the auth domain tells users by mail. The domain decides *when* a
 * message goes out (and that an unknown account gets none, while the caller
 * gets the same answer); src/mail decides how it looks and how it travels.
 *
 * Every mail is only rendered here: the store keeps it with the one-time
 * token or the account it belongs to, both or neither (see
 * Store.createOneTimeToken and Store.createUser), and the mail worker sends
 * it from there.
 * Implementations must not throw for delivery problems: they queue and retry.
 */
export interface Notifier {
  /** The welcome mail of a new account, rendered only: it is queued with the account (see Store.createUser). */
  welcomeMail(user: { username: string | null; email: string }): Promise<OutgoingMail[]>;
  /** The user name, rendered only: it is queued with the token that conditions it (EmailFlows.sendUsernameReminder). */
  usernameReminder(user: Recipient & { username: string }): Promise<OutgoingMail[]>;
  passwordReset(user: Recipient, reset: OneTimeSecret): Promise<OutgoingMail[]>;
  emailConfirmation(user: Recipient, confirmation: OneTimeSecret): Promise<OutgoingMail[]>;
  /** An email change is confirmed by both addresses: one mail to each, each with its own token. */
  emailChangeToOld(user: Recipient, newEmail: string, secret: OneTimeSecret): Promise<OutgoingMail[]>;
  emailChangeToNew(user: User, newEmail: string, secret: OneTimeSecret): Promise<OutgoingMail[]>;
  magicLink(user: Recipient, signIn: OneTimeSecret): Promise<OutgoingMail[]>;
  /** An administrator's invitation: a link (and code) that confirms the address and signs in. */
  invitation(user: Recipient, invite: OneTimeSecret): Promise<OutgoingMail[]>;
  /** The code (GoTrue's nonce) a signed-in user types to prove it is them before a password change. */
  reauthentication(user: Recipient, nonce: OneTimeSecret): Promise<OutgoingMail[]>;
}

/** For deployments without mail: the use cases still run, nothing is sent. */
export const silentNotifier: Notifier = {
  welcomeMail: async () => [],
  usernameReminder: async () => [],
  passwordReset: async () => [],
  emailConfirmation: async () => [],
  emailChangeToOld: async () => [],
  emailChangeToNew: async () => [],
  magicLink: async () => [],
  invitation: async () => [],
  reauthentication: async () => [],
};
