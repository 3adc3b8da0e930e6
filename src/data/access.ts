import { DataError } from './errors.js';

/**
 * Per-collection permission digits, as json-server-auth users know them:
 * owner / logged-in / public, 4 to read and 2 to write (e.g. 644, 600).
 * `decide` says whether a request may go on, and whether it is limited to the
 * caller's own records (access granted through the owner digit only).
 */
export type Operation = 'read' | 'write';

export interface Caller {
  sub: string;
  role: string;
  /**
   * The token's user is anonymous (GoTrue's signInAnonymously), as the store says now, not its claims.
   * Anyone makes one with a request, so it is no logged-in user: the public digit and, on its own
   * records, the owner digit are what it gets. Absent: a signed-up user.
   */
  anonymous?: boolean;
}

export type Decision = { scope: 'all' } | { scope: 'own'; sub: string };

const BITS: Record<Operation, number> = { read: 4, write: 2 };

function digits(rule: number): { owner: number; loggedIn: number; public: number } {
  return { owner: Math.floor(rule / 100) % 10, loggedIn: Math.floor(rule / 10) % 10, public: rule % 10 };
}

export function decide(rule: number, operation: Operation, caller: Caller | null): Decision {
  const bit = BITS[operation];
  const { owner, loggedIn, public: anyone } = digits(rule);
  if (anyone & bit) return { scope: 'all' };
  if (!caller) throw new DataError('no_authorization', 'No authorization');
  if ((loggedIn & bit) !== 0 && caller.anonymous !== true) return { scope: 'all' };
  if (owner & bit) return { scope: 'own', sub: caller.sub };
  throw new DataError('forbidden', `You may not ${operation} this collection`);
}
