/**
 * The user name a mail may print. A name is chosen by whoever signs up, and
 * the mail goes to an address that person may not own (a sign-up confirmed
 * at once, an email change's new address, a username reminder asked by
 * anyone): a name like "Your account is locked, call +1 555 0100" or
 * "verify-at-evil.example" would reach the victim as a message in the app's
 * own mail. So a mail prints a name only when it cannot read as one: a
 * single word of letters, marks, digits, `_` and `-`, at most
 * MAX_MAILED_NAME characters (GitHub allows 39 of [a-zA-Z0-9-], Auth0 15 by
 * default). No spaces (no sentence), no dots, slashes or colons (no link a
 * mail client would make of it). Any other name is left out and the mail
 * names the account by its address, which signs in as well as the name does.
 */
export const MAX_MAILED_NAME = 32;

const PLAIN_NAME = /^[\p{L}\p{M}\p{N}_-]+$/u;

/** Whether `name` may be printed in a mail (see above). */
export function isMailableName(name: string): boolean {
  return [...name].length <= MAX_MAILED_NAME && PLAIN_NAME.test(name);
}

/** What a mail calls the account: its name when mailable, else its address. */
export function mailedName(user: { username: string | null; email: string }): string {
  return user.username !== null && isMailableName(user.username) ? user.username : user.email;
}
