/**
 * A string an array literal may hold unquoted: base64url (token hashes), never empty, never the word
 * NULL, which PostgreSQL reads as a null element.
 */
const BARE_STRING = /^(?!null$)[\w-]+$/iu;

/**
 * A PostgreSQL array literal (`{a,b,c}`) of base64url strings or integers, as a text parameter. The pg
 * driver writes a JavaScript array element by element, each through two regular-expression escapes
 * (and a Date through its formatting, which costs as much again): a refresh batch sends four arrays
 * of these. Such elements need no quoting; anything else is refused, never sent half-escaped.
 */
export function arrayLiteral(values: readonly (string | number)[]): string {
  for (const value of values) {
    if (typeof value === 'string' ? !BARE_STRING.test(value) : !Number.isSafeInteger(value))
      throw new Error('arrayLiteral takes only base64url strings and integers');
  }
  return `{${values.join(',')}}`;
}
