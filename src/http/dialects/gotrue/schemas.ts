import { Type } from '@sinclair/typebox';
import { AuthError } from '../../../core/errors.js';

/** Schema pieces every GoTrue route shares. */

export const Email = Type.String({ minLength: 1, maxLength: 320 });
export const Metadata = Type.Record(Type.String(), Type.Unknown());
export const RedirectQuery = Type.Object({ redirect_to: Type.Optional(Type.String()) });

/** Fields auth-js adds to its bodies: accepted, and (but for PKCE) ignored. */
export const ClientExtras = {
  gotrue_meta_security: Type.Optional(Type.Object({})),
  code_challenge: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  code_challenge_method: Type.Optional(Type.Union([Type.String(), Type.Null()])),
};

/** PKCE is refused clearly rather than half-supported; auth-js's default implicit flow works. */
export function refusePkce(body: { code_challenge?: string | null | undefined }): void {
  if (body.code_challenge) throw pkceNotSupported();
}

export function pkceNotSupported(): AuthError {
  return new AuthError(
    'not_supported',
    'The PKCE flow is not supported: use the implicit flow (the default)',
  );
}
