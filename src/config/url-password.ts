/** What a hidden secret is printed as. */
export const REDACTED = '[redacted]';

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//iu;

/**
 * Query parameters that carry a credential: libpq's and pg's `password` and `sslpassword`
 * (`postgres://app@db/auth?password=...` connects with it), and any `secret` or `token`.
 */
const SECRET_PARAMETER = /([?&])((?:ssl)?pass(?:word)?|[^=&#]*(?:secret|token)[^=&#]*)=[^&#]*/giu;

/**
 * A URL's password (postgres://user:pass@host, smtp://user:pass@host, ?password=) replaced by
 * `[redacted]` in the text as written, for a message or a printed setting; anything else as it
 * is. A URL the parser refuses is often refused for its password (a `/`, `#` or `@` written
 * unescaped), so there everything from the user's `:` to the last `@` is hidden: more than the
 * password at worst, never less.
 */
export function withoutUrlPassword(value: string): string {
  const hidden = withoutUserPassword(value);
  const query = hidden.indexOf('?');
  if (query === -1 || !SCHEME.test(hidden)) return hidden;
  return hidden.slice(0, query) + hidden.slice(query).replace(SECRET_PARAMETER, `$1$2=${REDACTED}`);
}

function withoutUserPassword(value: string): string {
  const scheme = SCHEME.exec(value)?.[0];
  if (scheme === undefined) return value;
  let parsed: URL | null = null;
  try {
    parsed = new URL(value);
  } catch {
    // Refused: its authority's end cannot be told, see above.
  }
  if (parsed?.password === '') return value;
  // A URL that parses has its user and password before the first `/`, `?`, `#` or `\`.
  const end = parsed ? value.slice(scheme.length).search(/[/?#\\]/u) : -1;
  const authority = end === -1 ? value : value.slice(0, scheme.length + end);
  const at = authority.lastIndexOf('@');
  const colon = value.indexOf(':', scheme.length);
  if (at === -1 || colon === -1 || colon > at) return value;
  return `${value.slice(0, colon)}:${REDACTED}${value.slice(at)}`;
}

/** A setting's value as a message quotes it: JSON-quoted, its URL password hidden. */
export function quotedSetting(value: string): string {
  return JSON.stringify(withoutUrlPassword(value));
}
