/**
 * A whole bcrypt hash as bcrypt and bcryptjs write it (`$2a$10$` + 22 characters of salt + 31 of
 * hash), the form json-server-auth stored in db.json's `password`. Whole, so a password that merely
 * starts like one is not taken for a hash.
 */
const BCRYPT_HASH = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/u;

export function isBcryptHash(value: unknown): value is string {
  return typeof value === 'string' && BCRYPT_HASH.test(value);
}
