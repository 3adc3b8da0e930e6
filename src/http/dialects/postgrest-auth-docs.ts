import { Type, type TSchema } from '@sinclair/typebox';
import type { RouteDocs } from '../route-docs.js';

/** postgrest-auth's six endpoints for the OpenAPI document, with its error body. */

const ErrorBody = Type.Object(
  {
    status: Type.Integer(),
    statusText: Type.String(),
    error: Type.String({ description: "restauth's error code" }),
    message: Type.String(),
  },
  { description: "postgrest-auth's error body (every failure 400, but overload and faults)" },
);
const AccessToken = Type.Object({ access_token: Type.String() });
const Message = Type.Object({ message: Type.String() });

function withErrors(ok: Record<number, TSchema>): Record<number, TSchema> {
  return { ...ok, 400: ErrorBody, 413: ErrorBody, 429: ErrorBody, 500: ErrorBody, 503: ErrorBody };
}

export const postgrestAuthDocs: RouteDocs = {
  'POST /users': {
    summary: 'Sign up (postgrest-auth)',
    response: withErrors({ 201: AccessToken }),
  },
  'POST /refresh_token': {
    summary: 'Sign in with a user name and password, or renew a valid access token (postgrest-auth)',
    bearer: true,
    response: withErrors({ 200: AccessToken }),
  },
  'POST /change_password': {
    summary: 'Change the password with the current one or a reset token (postgrest-auth)',
    response: withErrors({ 200: AccessToken }),
  },
  'POST /change_email': {
    summary: 'Change the email address, or mail the new one where addresses are confirmed (postgrest-auth)',
    response: withErrors({ 200: Message }),
  },
  'POST /forgot_password': {
    summary: 'Mail a reset token (the same answer for unknown users; postgrest-auth)',
    response: withErrors({ 200: Message }),
  },
  'POST /forgot_username': {
    summary: 'Mail the user name (the same answer for unknown addresses; postgrest-auth)',
    response: withErrors({ 200: Message }),
  },
};
