import { Type, type TSchema } from '@sinclair/typebox';
import type { RouteDocs } from '../route-docs.js';

/**
 * json-server-auth's routes for the OpenAPI document, and the request body they share. The fields are
 * described, not typed: the handler checks them, to answer in json-server-auth's words ("Email and
 * password are required").
 */

/** Each of these registers a user, as in json-server-auth. */
export const JSON_SERVER_AUTH_REGISTER_PATHS = ['/register', '/signup', '/users'] as const;
/** Each of these signs a user in. */
export const JSON_SERVER_AUTH_LOGIN_PATHS = ['/login', '/signin'] as const;

export const jsonServerAuthBody = Type.Object(
  {
    email: Type.Optional(Type.Unknown({ description: 'the email address (string)' })),
    password: Type.Optional(Type.Unknown({ description: 'the password (string)' })),
  },
  {
    additionalProperties: true,
    description: "At sign-up every other property is kept in the user's db.json record",
  },
);

const Reason = Type.String({ description: "Why, as a JSON string (json-server-auth's words)" });
const User = Type.Object(
  { email: Type.String(), id: Type.Union([Type.String(), Type.Number()]) },
  { additionalProperties: true, description: "The user's record (its extra fields), never a password" },
);
const Answer = Type.Object({
  accessToken: Type.String({ description: 'restauth access token: send it as Authorization: Bearer' }),
  user: User,
});
const errors: Record<number, TSchema> = {
  400: Reason,
  413: Reason,
  429: Reason,
  500: Reason,
  503: Reason,
  507: Reason,
};

export function jsonServerAuthDocs(): RouteDocs {
  return Object.fromEntries([
    ...JSON_SERVER_AUTH_REGISTER_PATHS.map((path) => [
      `POST ${path}`,
      { summary: 'Sign up (json-server-auth)', response: { 201: Answer, ...errors } },
    ]),
    ...JSON_SERVER_AUTH_LOGIN_PATHS.map((path) => [
      `POST ${path}`,
      { summary: 'Sign in (json-server-auth)', response: { 200: Answer, ...errors } },
    ]),
  ]) as RouteDocs;
}
