import type { OAuth2ProviderDefinition, ProviderClaims } from '../provider.js';
import { baseUrl, fields, present, text } from './values.js';

/**
 * Discord, as GoTrue's provider/discord.go: the user from /api/users/@me, its
 * address verified when Discord says so, and the avatar as a CDN address
 * made from the avatar hash (an animated one, `a_…`, as a GIF), or Discord's
 * default avatar for the discriminator when the user has none.
 */

const DISCORD = 'https://discord.com';
const CDN = 'https://cdn.discordapp.com';

/**
 * The avatar's address (https://discord.com/developers/docs/reference#image-formatting). Without an
 * avatar, the default one of the discriminator modulo 5, as GoTrue computes it ("0" for users who
 * have left discriminators behind: the first default avatar).
 */
export function discordAvatarUrl(id: string, avatar: string | null, discriminator: string | null): string {
  if (avatar === null) {
    const number = /^\d+$/u.test(discriminator ?? '') ? Number(discriminator) % 5 : 0;
    return `${CDN}/embed/avatars/${number}.png`;
  }
  return `${CDN}/avatars/${id}/${avatar}.${avatar.startsWith('a_') ? 'gif' : 'png'}`;
}

/** Discord's /users/@me as the claims of its user. */
export function discordClaims(user: unknown, apiPath: string): ProviderClaims {
  const profile = fields(user);
  const subject = text(profile['id']);
  if (subject === null) throw new Error('discord: the user has no id');
  const username = text(profile['username']) ?? '';
  const discriminator = text(profile['discriminator']);
  const avatarUrl = discordAvatarUrl(subject, text(profile['avatar']), discriminator);
  const email = text(profile['email']);
  return {
    subject,
    email,
    emailVerified: email !== null && profile['verified'] === true,
    // GoTrue's name: username#discriminator, as Discord showed names before global names.
    name: `${username}#${discriminator ?? ''}`,
    avatarUrl,
    extra: present({
      iss: apiPath,
      picture: avatarUrl,
      full_name: username,
      provider_id: subject,
      custom_claims: { global_name: text(profile['global_name']) ?? '' },
    }),
  };
}

export const discord: OAuth2ProviderDefinition = {
  flavour: 'oauth2',
  name: 'discord',
  defaultScopes: ['email', 'identify'],
  pkce: false,
  endpoints(settings) {
    const api = `${baseUrl(settings.url, DISCORD)}/api`;
    return { authorization: `${api}/oauth2/authorize`, token: `${api}/oauth2/token` };
  },
  async readUser(tokens, http, settings) {
    const api = `${baseUrl(settings.url, DISCORD)}/api`;
    return discordClaims(await http.getJson(`${api}/users/@me`, tokens.accessToken), api);
  },
};
