/**
 * Names of identity and security facts (addresses, roles, confirmations, bans, metadata only the
 * auth routes set, the account's timestamps), compared without case, `_` or `-`: `Email`, `ROLE`,
 * `app_metadata` and `appMetadata` are each one field. A user's own data (a registration's extra
 * fields, their record in the data API) never sets one: a reader of the record, an application's
 * check included, must not tell the user's `Role` from the auth routes' `role` by its spelling.
 */
const IDENTITY_FIELDS: ReadonlySet<string> = new Set([
  'email',
  'phone',
  'username',
  'role',
  'aud',
  'emailconfirmedat',
  'phoneconfirmedat',
  'confirmedat',
  'emailchange',
  'newemail',
  'newphone',
  'banneduntil',
  'appmetadata',
  'rawappmetadata',
  'tokenversion',
  'issuperadmin',
  'isssouser',
  'isanonymous',
  'identities',
  'factors',
  'createdat',
  'updatedat',
  'lastsigninat',
  'deletedat',
  'invitedat',
  'confirmationsentat',
  'recoverysentat',
  'emailchangesentat',
]);

/** A field name as IDENTITY_FIELDS compares it: lower case, without `_` or `-`. */
export function comparableFieldName(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

export function isIdentityField(key: string): boolean {
  return IDENTITY_FIELDS.has(comparableFieldName(key));
}

/**
 * Password-like names, compared as identity fields are: a password, its confirmation or a hash of
 * one under any spelling (`hashedPassword`, `password_digest`, `Encrypted-Password`, `passwd`,
 * `pwd_hash`, `salt`). Such a field never leaves the server in a user record, and no user's data
 * sets one (the data API refuses it on a record; a registration leaves it out): a `passwordConfirm`
 * sent with a registration was stored in clear in db.json, beside the hash kept apart in credentials.json.
 */
const SECRET_NAME = /passw(?:or)?d|^pwd|^(?:hash|salt)$/u;

export function isSecretField(key: string): boolean {
  return SECRET_NAME.test(comparableFieldName(key));
}
