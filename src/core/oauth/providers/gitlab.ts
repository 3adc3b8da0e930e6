import type { OAuth2ProviderDefinition, ProviderClaims } from '../provider.js';
import { baseUrl, fields, idText, present, text } from './values.js';

/**
 * GitLab, as GoTrue's provider/gitlab.go: gitlab.com, or a self-hosted GitLab
 * at `url`; the user from /api/v4/user. Its `email` is the primary address,
 * verified when GitLab says it was confirmed (`confirmed_at`); the other
 * addresses (/api/v4/user/emails) come without a confirmation state, so
 * GoTrue counts them unverified and never signs in with them: restauth reads
 * only the primary one.
 */

const GITLAB = 'https://gitlab.com';

/** GitLab's /api/v4/user as the claims of its user. */
export function gitlabClaims(user: unknown, host: string): ProviderClaims {
  const profile = fields(user);
  const subject = idText(profile['id']);
  if (subject === null) throw new Error('gitlab: the user has no id');
  const name = text(profile['name']);
  const avatar = text(profile['avatar_url']);
  const email = text(profile['email']);
  return {
    subject,
    email,
    emailVerified: email !== null && text(profile['confirmed_at']) !== null,
    name,
    avatarUrl: avatar,
    extra: present({
      iss: host,
      picture: avatar,
      full_name: name,
      provider_id: subject,
      preferred_username: text(profile['username']),
      user_name: text(profile['username']),
    }),
  };
}

export const gitlab: OAuth2ProviderDefinition = {
  flavour: 'oauth2',
  name: 'gitlab',
  defaultScopes: ['read_user'],
  pkce: false,
  endpoints(settings) {
    const host = baseUrl(settings.url, GITLAB);
    return { authorization: `${host}/oauth/authorize`, token: `${host}/oauth/token` };
  },
  async readUser(tokens, http, settings) {
    const host = baseUrl(settings.url, GITLAB);
    const api = settings.apiUrl === null ? `${host}/api/v4` : baseUrl(settings.apiUrl, host);
    return gitlabClaims(await http.getJson(`${api}/user`, tokens.accessToken), host);
  },
};
