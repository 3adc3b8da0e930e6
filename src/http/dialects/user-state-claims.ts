import type { ExtraClaims } from '../../core/auth-service.js';
import type { User } from '../../core/ports/store.js';
import { appMetadataJson } from './gotrue/identity-wire.js';

/**
 * What a database policy reads about the user in GoTrue's token (gotrueClaims), on the tokens of
 * the other dialects too: a GoTrue user's session refreshed at json-data-server or re-issued by
 * postgrest-auth shed them, and a deny-list policy (`auth.jwt() -> 'app_metadata' ->> 'blocked' is
 * distinct from 'true'`) let that token through. Extra claims break neither dialect's clients (their
 * tokens are read for their own claims). restauth has no MFA step-up: every session is aal1.
 */
export function userStateClaims(user: User): Record<string, unknown> {
  return { email: user.email ?? '', app_metadata: appMetadataJson(user), aal: 'aal1' };
}

/** userStateClaims alone, for a dialect with no claims of its own (json-data-server). */
export const userStateOnly: ExtraClaims = (user) => userStateClaims(user);
