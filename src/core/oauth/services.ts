import type { AuthEvents } from '../ports/events.js';
import type { OAuthClients } from './client.js';
import type { OAuthFlows } from './flows.js';
import type { ExternalSignIn } from './sign-in.js';
import type { SpentIdTokens } from './spent-id-tokens.js';

/** OAuth and OIDC sign-in, as the composition root builds it for the dialects. */
export interface OAuthServices {
  /** The configured providers and restauth as their client. */
  clients: OAuthClients;
  /** The state of each sign-in between GET /authorize and the callback. */
  flows: OAuthFlows;
  /** The id_tokens signInWithIdToken has spent: each signs in once. */
  spentIdTokens: SpentIdTokens;
  /** Who a provider's user is here: found, joined or created. */
  signIn: ExternalSignIn;
  /** Where refused callbacks are counted (the metrics). */
  events: Pick<AuthEvents, 'oauthCallbackRefused'>;
}
