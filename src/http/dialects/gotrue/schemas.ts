import { Type } from '@sinclair/typebox';
import { pkceChallenge, type PkceChallenge } from '../../../core/pkce.js';

/** Schema pieces every GoTrue route shares. */

export const Email = Type.String({ minLength: 1, maxLength: 320 });
export const Metadata = Type.Record(Type.String(), Type.Unknown());
/**
 * A redirect_to: bounded as /authorize's always was. Unbounded, a sign-up or recovery request could
 * put up to the body limit of text into the link it mails and into the flow it stores.
 */
export const RedirectTarget = Type.String({ maxLength: 2000 });
export const RedirectQuery = Type.Object({ redirect_to: Type.Optional(RedirectTarget) });

/** Fields auth-js adds to its bodies: accepted; the PKCE pair starts a PKCE flow (see pkceOf), redirect_to is read. */
export const ClientExtras = {
  redirect_to: Type.Optional(RedirectTarget),
  gotrue_meta_security: Type.Optional(Type.Object({})),
  code_challenge: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  code_challenge_method: Type.Optional(Type.Union([Type.String(), Type.Null()])),
};

/** The body's PKCE challenge (null: the implicit flow); malformed or half given, a 400 as GoTrue's. */
export function pkceOf(body: {
  code_challenge?: string | null | undefined;
  code_challenge_method?: string | null | undefined;
}): PkceChallenge | null {
  return pkceChallenge(body.code_challenge, body.code_challenge_method);
}

/** A request's redirect_to: auth-js sends it in the query string, other clients in the body. */
export function requestedRedirect(request: {
  query: { redirect_to?: string | undefined };
  body: { redirect_to?: string | undefined };
}): string | undefined {
  return request.query.redirect_to || request.body.redirect_to;
}
