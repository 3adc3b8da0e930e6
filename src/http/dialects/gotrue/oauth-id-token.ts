import { Type, type Static } from '@sinclair/typebox';
import type { IssuedSession } from '../../../core/auth-service.js';
import { AuthError } from '../../../core/errors.js';
import { checkIdTokenNonce } from '../../../core/oauth/id-token.js';
import type { ConfiguredProvider } from '../../../core/oauth/registry.js';
import type { GotrueOptions } from './context.js';
import { idTokenProviderDisabled } from './disabled-features.js';
import { gotrueClaims } from './wire.js';
import type { Client } from '../../../core/audit.js';

/** signInWithIdToken's fields of POST /token?grant_type=id_token (GoTrue's IdTokenGrantParams). */
export const IdTokenFields = {
  id_token: Type.Optional(Type.String({ maxLength: 16384 })),
  access_token: Type.Optional(Type.String({ maxLength: 16384 })),
  nonce: Type.Optional(Type.String({ maxLength: 1000 })),
  provider: Type.Optional(Type.String({ maxLength: 100 })),
  client_id: Type.Optional(Type.String({ maxLength: 1000 })),
  issuer: Type.Optional(Type.String({ maxLength: 2000 })),
  link_identity: Type.Optional(Type.Boolean()),
};
export const IdTokenBody = Type.Object(IdTokenFields);
type IdTokenBody = Static<typeof IdTokenBody>;

/**
 * POST /token?grant_type=id_token: an id_token the app got from an OIDC provider itself (Google
 * One Tap, Sign in with Apple on a device) signs its user in, once it verifies against the
 * provider's keys with its issuer, an audience among the client ids, its expiry and, unless the
 * provider skips it, the nonce (the app sends it raw, the token carries its SHA-256).
 */
export async function idTokenGrant(
  options: GotrueOptions,
  client: Client,
  body: IdTokenBody,
): Promise<IssuedSession> {
  if (body.id_token === undefined || body.id_token === '') {
    throw new AuthError('validation_failed', 'id_token required');
  }
  if (!body.provider && (!body.client_id || !body.issuer)) {
    throw new AuthError('validation_failed', 'provider or client_id and issuer required');
  }
  // Linking through an id_token is manual linking: refused until that is on.
  if (body.link_identity === true) throw new AuthError('manual_linking_disabled');
  const provider = idTokenProvider(options, body);
  const payload = await options.oauth.clients.verifyIdToken(provider, body.id_token);
  if (!provider.settings.skipNonceCheck) checkIdTokenNonce(payload['nonce'], body.nonce);
  if (provider.definition.flavour !== 'oidc') throw idTokenProviderDisabled(body);
  let claims;
  try {
    claims = provider.definition.claims(payload, provider.settings);
  } catch {
    throw new AuthError('validation_failed', 'Missing sub claim in id_token');
  }
  // Spent only once it would sign in: a refused token (a wrong nonce) is no replay later.
  await options.oauth.spentIdTokens.spend(body.id_token, payload);
  const user = await options.oauth.signIn.signIn(client, {
    provider: provider.settings.name,
    claims,
    issuer: typeof payload['iss'] === 'string' ? payload['iss'] : null,
    emailOptional: provider.settings.emailOptional,
    redirectTo: null,
  });
  return options.auth.startSession(
    client,
    user,
    gotrueClaims(options.settings.audience, 'oauth'),
    'id_token',
  );
}

/** The enabled OIDC provider the request names, by name or by issuer; GoTrue's refusal otherwise. */
function idTokenProvider(options: GotrueOptions, body: IdTokenBody): ConfiguredProvider {
  const clients = options.oauth.clients;
  const named = body.provider ? clients.get(body.provider) : undefined;
  if (named !== undefined && named.definition.flavour === 'oidc') return named;
  if (body.issuer) {
    const issuer = body.issuer.replace(/\/+$/u, '');
    for (const name of clients.names()) {
      const provider = clients.get(name)!;
      if (
        provider.definition.flavour === 'oidc' &&
        provider.definition.issuer(provider.settings) === issuer
      ) {
        return provider;
      }
    }
  }
  throw idTokenProviderDisabled(body);
}
