import type { User } from './store.js';

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
 * Implementations must not throw for delivery problems: they queue and retry.
 */
export interface Notifier {
  welcome(user: Recipient): Promise<void>;
  passwordReset(user: Recipient, reset: OneTimeSecret): Promise<void>;
  usernameReminder(user: Recipient & { username: string }): Promise<void>;
  emailConfirmation(user: Recipient, confirmation: OneTimeSecret): Promise<void>;
  /** Both addresses confirm a change: one mail to the current address (toOld, absent when there is none), one to the new. */
  emailChange(
    user: User,
    change: { newEmail: string; toOld: OneTimeSecret | null; toNew: OneTimeSecret },
  ): Promise<void>;
  magicLink(user: Recipient, signIn: OneTimeSecret): Promise<void>;
}

/** For deployments without mail: the use cases still run, nothing is sent. */
export const silentNotifier: Notifier = {
  welcome: async () => {},
  passwordReset: async () => {},
  usernameReminder: async () => {},
  emailConfirmation: async () => {},
  emailChange: async () => {},
  magicLink: async () => {},
};
