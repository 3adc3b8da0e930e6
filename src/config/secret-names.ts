import type { TSchema } from '@sinclair/typebox';

/**
 * Names whose value is a credential wherever it appears (jwt.secret, a key's privateKey; in
 * `email`, nodemailer's auth.pass, its OAuth2 and DKIM options, and the TLS client key and its
 * passphrase, `tls.key`, `tls.pfx`, `tls.passphrase`).
 */
export const SECRET_NAMES =
  /^(secret|pass|password|passphrase|privateKey|key|pfx|accessToken|refreshToken|clientSecret|apiKey)$/i;

/** Whether a value `schema` describes may hold a credential: a property below it has a secret's name. */
export function holdsSecrets(schema: TSchema, depth = 0): boolean {
  if (depth > 8) return false;
  const properties = (schema['properties'] ?? {}) as Record<string, TSchema>;
  for (const [name, child] of Object.entries(properties)) {
    if (SECRET_NAMES.test(name) || holdsSecrets(child, depth + 1)) return true;
  }
  const children = [
    ...['anyOf', 'allOf', 'oneOf'].flatMap((key) => (schema[key] ?? []) as TSchema[]),
    ...Object.values((schema['patternProperties'] ?? {}) as Record<string, TSchema>),
    ...(schema['items'] && !Array.isArray(schema['items']) ? [schema['items'] as TSchema] : []),
  ];
  return children.some((child) => holdsSecrets(child, depth + 1));
}
