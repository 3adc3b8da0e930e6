import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import type { JsonDataServerDialectConfig } from '../../config/schema.js';
import type { RouteDocs } from '../route-docs.js';

/**
 * json-data-server's routes for the OpenAPI document: its paths and field names are configuration, so
 * the docs and the request bodies are made from it. The fields are described, not typed: the handlers
 * check them, to answer in json-data-server's own words (`Missing username`).
 */

const Reason = Type.String({
  description: 'Why, as plain text (json-data-server answered every failure so)',
});

function field(description: string): TSchema {
  return Type.Optional(Type.Unknown({ description }));
}

export function jsonDataServerBodies(settings: JsonDataServerDialectConfig, userIdProp: string) {
  const user = field(`the login: a user name, or an email address (string; \`${userIdProp}\` is read too)`);
  const password = field('the password (string)');
  const tokens = {
    [settings.jwtAccessToken]: field('the access token (string); else the Authorization header'),
    [settings.jwtRefreshToken]: field('the refresh token (string)'),
  };
  const body = (properties: Record<string, TSchema>, description: string): TObject =>
    Type.Object(properties, { additionalProperties: true, description });
  return {
    register: body(
      {
        [settings.reqUserId]: user,
        [settings.reqUserPassword]: password,
        email: field('an email address (string, optional)'),
      },
      'Every other property becomes the public user record in db.json',
    ),
    login: body({ [settings.reqUserId]: user, [settings.reqUserPassword]: password }, 'A sign-in'),
    refresh: body(
      { [settings.jwtRefreshToken]: tokens[settings.jwtRefreshToken]!, [settings.reqUserId]: user },
      'The refresh token; the login, when given, must be its user',
    ),
    check: body(
      { [settings.jwtAccessToken]: tokens[settings.jwtAccessToken]!, [settings.reqUserId]: user },
      'The token to check; the login, when given, must be its user',
    ),
    password: body(
      {
        [settings.reqUserId]: user,
        [settings.reqUserPassword]: field('the current password (string)'),
        [settings.reqNewPassword]: field('the new password (string)'),
      },
      'A password change',
    ),
    logout: body(tokens, 'The session to end: by its access token (or header), or its refresh token'),
  };
}

export function jsonDataServerDocs(settings: JsonDataServerDialectConfig): RouteDocs {
  const tokens = Type.Object({
    [settings.jwtAccessToken]: Type.String(),
    [settings.jwtRefreshToken]: Type.String(),
  });
  const errors = { 400: Reason, 413: Reason, 429: Reason, 500: Reason, 503: Reason, 507: Reason };
  const entries: [string, RouteDocs[string]][] = [];
  const add = (path: string, summary: string, ok: Record<number, TSchema>) => {
    if (path !== '') entries.push([`POST ${path}`, { summary, response: { ...ok, ...errors } }]);
  };
  add(settings.registerRoute, 'Sign up (json-data-server)', { 200: tokens });
  add(settings.loginRoute, 'Sign in (json-data-server)', { 200: tokens });
  add(settings.refreshRoute, 'Refresh a session: the refresh token is rotated (json-data-server)', {
    200: tokens,
  });
  add(settings.checkRoute, 'Check an access token (json-data-server)', {
    200: Type.Object({ valid: Type.Boolean(), reason: Type.Optional(Type.String()) }),
  });
  add(settings.passwordRoute, 'Change the password: every other session ends (json-data-server)', {
    200: tokens,
  });
  add(settings.logoutRoute, 'Sign out a session (json-data-server)', {
    204: Type.Null({ description: 'No content' }),
  });
  // Own properties only (fromEntries defines them): a configured path is never a prototype key.
  return Object.fromEntries(entries);
}
