import { hasHiddenCharacter } from '../lib/hidden-characters.js';
import { mixesScripts } from '../lib/mixed-scripts.js';
import type { FormatPattern } from '../lib/re2.js';
import { AuthError } from './errors.js';
import type { User } from './ports/store.js';

/**
 * The identity model, once for every dialect and store: a login is either a
 * user name or an email address, never ambiguous (a name never contains `@`,
 * an address always does), and both are compared in one normalised form,
 * `loginKey`. Stores index and look up by that key only: nothing compares
 * raw strings, and nothing leaves the comparison to SQL, whose `lower()`
 * depends on the database's locale (in the C locale the Kelvin sign U+212A is
 * not `k`, while JavaScript folds it to `k`).
 */

/** Longest user name or email address accepted (RFC 5321's path limit is 256; this leaves room). */
export const MAX_LOGIN_LENGTH = 320;
/**
 * The longest text loginKey normalises: a login of MAX_LOGIN_LENGTH characters, with room for each
 * to be written decomposed (a letter and its marks).
 */
const LONGEST_NORMALIZED = 4 * MAX_LOGIN_LENGTH;
/** GoTrue refuses longer addresses ("An email address is too long"). */
const MAX_EMAIL_LENGTH = 255;

export const INVALID_EMAIL = 'Unable to validate email address: invalid format';

/**
 * An email address as the WHATWG HTML standard defines a valid one (what
 * `<input type=email>` accepts, and GoTrue's checkmail.ValidateFormat): a
 * dot-atom-like local part of printable ASCII without quotes, angle brackets,
 * `:` or `;`, and a domain of LDH labels. It refuses `<mallory@evil.test>corp.io`
 * and `xx:;x@x.x`, whose recipient a mail transport reads otherwise.
 */
const EMAIL_FORMAT =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/u;

/** Characters that show nothing: default-ignorable ones, white space and the blank glyphs. */
const SHOWS_NOTHING = /[\p{Default_Ignorable_Code_Point}\p{White_Space}\u2800]|\u{16FE4}|\u{1D159}/gu;
/**
 * Characters that are neither default-ignorable nor white space but print nothing: U+2800 BRAILLE
 * PATTERN BLANK (a symbol printed as a space), U+16FE4 KHITAN SMALL SCRIPT FILLER and U+1D159
 * MUSICAL SYMBOL NULL NOTEHEAD (non-spacing marks drawn as nothing): `alex` with one after it reads
 * as `alex`, and trimming does not take it.
 */
const BLANK_GLYPH = /\u2800|\u{16FE4}|\u{1D159}/u;

/** Anything but printable ASCII, which every address is once its compatibility forms are folded. */
const NOT_ASCII = /[^ -~]/u;

/**
 * The form in which two logins are the same login: trimmed, Unicode NFKC
 * (full-width letters, ligatures and the Kelvin sign become plain letters),
 * case-folded. JavaScript has no case fold; upper- then lower-casing folds
 * what lower-casing alone keeps apart (`ß` and `ss`, final and medial sigma).
 * Repeated until stable, so the key of a key is itself (a fold can
 * denormalise and a normalisation can unfold; two rounds settle in practice).
 */
export function loginKey(value: string): string {
  // Never normalised past this length: NFKC orders a run of combining marks with an insertion sort,
  // and one 96 KB name of them cost a second per normalize, before any route's length check (a
  // request naming a user, a sign-up's second login). Such a value is no login (none is over
  // MAX_LOGIN_LENGTH): its key is itself behind a NUL, which no login's key holds, so it finds
  // nothing and is its own key again.
  if (value.length > LONGEST_NORMALIZED) return value.startsWith('\u0000') ? value : `\u0000${value}`;
  let key = value;
  for (let round = 0; round < 4; round++) {
    const next = key.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC').trim();
    if (next === key) return key;
    key = next;
  }
  return key;
}

/** A login with `@` is an email address, any other a user name: never both. */
export function isEmailLogin(login: string): boolean {
  return login.includes('@');
}

/**
 * Whether `requested` names this account: its id, or its login (a name or an
 * address, compared by login key). A request that names a user and presents
 * a token is honoured only when the token is that user's.
 */
export function namesUser(user: Pick<User, 'id' | 'username' | 'email'>, requested: string): boolean {
  if (user.id === requested) return true;
  const key = loginKey(requested);
  const login = isEmailLogin(key) ? user.email : user.username;
  return login !== null && loginKey(login) === key;
}

/** The name of the database role of a user in postgrest-auth's role-per-user mode: its login key. */
export function roleNameFor(username: string): string {
  return loginKey(username);
}

/**
 * Validates an email address and returns the form it is stored, mailed and
 * compared in (its login key), or refuses it as GoTrue does.
 */
export function checkEmail(email: string): string {
  const trimmed = email.trim();
  if (trimmed.length === 0) throw new AuthError('validation_failed', 'An email address is required');
  if (trimmed.length > MAX_EMAIL_LENGTH)
    throw new AuthError('validation_failed', 'An email address is too long');
  // Compatibility forms (full-width letters, the Kelvin sign) are the ASCII letters they show; but a
  // letter that only case folding makes ASCII is another mailbox: `straße@` folds to `strasse@`,
  // `admın@` (dotless ı) to `admin@`, and the account's mail would go to whoever has that one.
  if (NOT_ASCII.test(trimmed.normalize('NFKC').toLowerCase()))
    throw new AuthError('validation_failed', INVALID_EMAIL);
  const address = loginKey(trimmed);
  if (address.length > MAX_EMAIL_LENGTH || !EMAIL_FORMAT.test(address))
    throw new AuthError('validation_failed', INVALID_EMAIL);
  return address;
}

/**
 * Validates a new user name and returns the form it is stored and shown in:
 * trimmed and NFKC-normalised, its case kept (lookups go by loginKey). A name
 * never contains `@`, so it can never be mistaken for someone's address.
 */
/** A uuid in any case (GoTrue's and restauth's user ids are uuids). */
const UUID_SHAPED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu;

export function checkUsername(username: string, pattern: FormatPattern): string {
  // Before normalising (see LONGEST_NORMALIZED): NFKC makes text at most three times shorter (Hangul
  // jamo compose three to one), so a name past it is too long either way.
  if (username.length > LONGEST_NORMALIZED) throw new AuthError('validation_failed', 'User name is too long');
  const name = username.normalize('NFKC').trim();
  // A name of Hangul fillers (U+3164) or grapheme joiners shows as nothing, as an empty one would.
  if (name.replace(SHOWS_NOTHING, '').length === 0)
    throw new AuthError('validation_failed', 'User name must not be empty');
  if (name.length > MAX_LOGIN_LENGTH) throw new AuthError('validation_failed', 'User name is too long');
  // Controls (NUL also breaks PostgreSQL's text) and characters that change what is shown without
  // being seen (U+202E, zero-width spaces ...): a name is read by people, in mails and lists.
  if (hasHiddenCharacter(name) || BLANK_GLYPH.test(name))
    throw new AuthError('validation_failed', 'User name must not contain control or invisible characters');
  // `аlice` with a Cyrillic `а` is another login that reads as `alice`: one person, two accounts.
  if (mixesScripts(name))
    throw new AuthError('validation_failed', 'User name must not mix scripts (such as Latin and Cyrillic)');
  if (isEmailLogin(name)) throw new AuthError('validation_failed', 'User name must not contain @');
  // A request naming a user (json-data-server's /auth/check, /auth/refresh) names it by id or by name
  // (namesUser): a name spelling another user's uuid in other case named that user's id and this
  // name at once, and the attacker's token passed for the victim's id.
  if (UUID_SHAPED.test(name)) throw new AuthError('validation_failed', 'User name must not be a user id');
  if (!pattern.test(name)) {
    throw new AuthError('validation_failed', 'User name does not match the required format');
  }
  return name;
}
