import { Type } from '@sinclair/typebox';
import { pkceChallenge, type PkceChallenge } from '../../../core/pkce.js';

/** Schema pieces every GoTrue route shares. */

export const Email = Type.String({ minLength: 1, maxLength: 320 });
export const Metadata = Type.Record(Type.String(), Type.Unknown());
export const RedirectQuery = Type.Object({ redirect_to: Type.Optional(Type.String()) });

/** Fields auth-js adds to its bodies: accepted; the PKCE pair starts a PKCE flow (see pkceOf). */
export const ClientExtras = {
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
