import { randomUUID } from 'node:crypto';
import type { IdentityToLink } from '../identity-linking.js';
import { hashSecret } from '../secrets.js';

/**
 * What a PKCE linkIdentity flow's callback leaves for its code's exchange: the identity to link,
 * linked only by whoever exchanges the code with the app's code_verifier. Linked at the callback,
 * the identity went to the starter's account in whichever browser finished the flow, so a
 * linkIdentity address the starter forwarded linked the victim's provider identity to the
 * starter's account; a forwarded flow now ends in the victim's browser with a code it cannot use.
 * Its target is the flow's user (the code's).
 */
export type PendingLink = Omit<IdentityToLink, 'targetUserId'>;

/** The pending link as the flow state keeps it (FlowState.pendingLink, opaque to stores). */
export function serializePendingLink(link: PendingLink): string {
  return JSON.stringify(link);
}

/** A kept pending link; a value that is none (a store's fault) throws. */
export function parsePendingLink(stored: string): PendingLink {
  const link = JSON.parse(stored) as PendingLink;
  const { claims } = link;
  if (
    typeof link.provider !== 'string' ||
    (link.sessionId !== null && typeof link.sessionId !== 'string') ||
    typeof claims !== 'object' ||
    claims === null ||
    typeof claims.subject !== 'string' ||
    (claims.email !== null && typeof claims.email !== 'string') ||
    typeof claims.emailVerified !== 'boolean' ||
    typeof link.identityData !== 'object' ||
    link.identityData === null
  ) {
    throw new Error('a flow state whose pending link is malformed');
  }
  return link;
}

/**
 * A link flow's auth code is marked, and kept under a hash of its own (authCodeHashOf): an instance
 * from before links waited for the exchange (a rolling upgrade's old half) looks a code up by
 * hashSecret(code) alone, finds none (flow_state_not_found) and so cannot answer the session
 * without linking what the callback left for the exchange.
 */
const LINK_CODE_PREFIX = 'link-';

/** A fresh auth code for a PKCE link flow (a UUID, marked). */
export function newLinkCode(): string {
  return `${LINK_CODE_PREFIX}${randomUUID()}`;
}

/** The hash a flow keeps for its auth code `code`: a link code's in its own domain (see newLinkCode). */
export function authCodeHashOf(code: string): string {
  return code.startsWith(LINK_CODE_PREFIX) ? hashSecret(`pending link code:${code}`) : hashSecret(code);
}
