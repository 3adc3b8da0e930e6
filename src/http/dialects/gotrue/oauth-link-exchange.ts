import type { Client } from '../../../core/audit.js';
import type { PendingLink } from '../../../core/oauth/pending-link.js';
import type { User } from '../../../core/ports/store.js';
import type { GotrueOptions } from './context.js';
import { refusalReason } from './oauth-routes.js';

/**
 * A PKCE linkIdentity flow's identity, linked at its code's exchange (grant_type=pkce) for
 * `targetUserId`, the flow's user. A refusal here is the one the callback made before PKCE links
 * waited for the exchange (identity taken, starter signed out or banned ...): it still counts in
 * restauth_oauth_callback_refusals_total by the flow's provider, so the `identity` reason keeps
 * counting refused links.
 */
export async function linkAtExchange(
  options: Pick<GotrueOptions, 'identityLinking' | 'oauth'>,
  client: Client,
  link: PendingLink,
  targetUserId: string,
): Promise<User> {
  try {
    return await options.identityLinking.link(client, { ...link, targetUserId });
  } catch (error) {
    options.oauth.events.oauthCallbackRefused(link.provider, refusalReason(error, true));
    throw error;
  }
}
