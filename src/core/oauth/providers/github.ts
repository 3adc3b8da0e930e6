import type { OAuth2ProviderDefinition, ProviderClaims } from '../provider.js';
import { baseUrl, fields, idText, present, text } from './values.js';

/**
 * GitHub (an OAuth App), as GoTrue's provider/github.go: the user from the
 * REST API's /user, the address from /user/emails (the profile's `email` is
 * only the public one, often null). `url` points the preset at GitHub
 * Enterprise Server (https://ghe.example.com: the API under /api/v3), which is
 * also how tests point it at a GitHub-style server of their own.
 */

const GITHUB = 'https://github.com';
const GITHUB_API = 'https://api.github.com';

/** Where the REST API is: api.github.com, or a GitHub Enterprise Server's /api/v3 (`api_url` wins). */
function apiBase(settings: { url: string | null; apiUrl: string | null }): string {
  if (settings.apiUrl !== null) return baseUrl(settings.apiUrl, GITHUB_API);
  return settings.url === null ? GITHUB_API : `${baseUrl(settings.url, GITHUB)}/api/v3`;
}

export interface GithubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
}

/**
 * The address a GitHub user signs in with, as GoTrue picks it: the primary one with its
 * verified flag. Without a primary (GitHub always has one; a GitHub-style server may not),
 * the first verified address, else none: an unverified secondary never stands in for it.
 */
export function githubAddress(emails: readonly GithubEmail[]): { email: string; verified: boolean } | null {
  const primary = emails.find((entry) => entry.primary);
  if (primary) return { email: primary.email, verified: primary.verified };
  const verified = emails.find((entry) => entry.verified);
  return verified ? { email: verified.email, verified: true } : null;
}

/** /user/emails' answer: the entries that are objects with an address; anything else is dropped. */
export function githubEmails(answer: unknown): GithubEmail[] {
  if (!Array.isArray(answer)) return [];
  return answer.flatMap((entry: unknown) => {
    const item = fields(entry);
    const email = text(item['email']);
    return email === null
      ? []
      : [{ email, primary: item['primary'] === true, verified: item['verified'] === true }];
  });
}

/** GitHub's /user and /user/emails as the claims of its user (GoTrue's names in `extra`). */
export function githubClaims(user: unknown, emails: readonly GithubEmail[], issuer: string): ProviderClaims {
  const profile = fields(user);
  const subject = idText(profile['id']);
  if (subject === null) throw new Error('github: the user has no id');
  const login = text(profile['login']);
  const name = text(profile['name']);
  const avatar = text(profile['avatar_url']);
  const address = githubAddress(emails);
  return {
    subject,
    email: address?.email ?? null,
    emailVerified: address?.verified ?? false,
    name,
    avatarUrl: avatar,
    extra: present({
      iss: issuer,
      preferred_username: login,
      user_name: login,
      full_name: name,
      provider_id: subject,
    }),
  };
}

export const github: OAuth2ProviderDefinition = {
  flavour: 'oauth2',
  name: 'github',
  defaultScopes: ['user:email'],
  pkce: false,
  endpoints(settings) {
    const base = baseUrl(settings.url, GITHUB);
    return { authorization: `${base}/login/oauth/authorize`, token: `${base}/login/oauth/access_token` };
  },
  async readUser(tokens, http, settings) {
    const api = apiBase(settings);
    const headers = { Accept: 'application/vnd.github+json' };
    const [user, emails] = await Promise.all([
      http.getJson(`${api}/user`, tokens.accessToken, headers),
      http.getJson(`${api}/user/emails`, tokens.accessToken, headers),
    ]);
    return githubClaims(user, githubEmails(emails), api);
  },
};
