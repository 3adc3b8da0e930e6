import type { TestApp } from './app.js';

/**
 * A service-role token of the app's own key, valid an hour from the app's clock (so it stays valid on
 * an app whose clock is stopped or moved).
 */
export function serviceTokenOf(t: Pick<TestApp, 'services'>): Promise<string> {
  const { tokens, clock } = t.services;
  return tokens.signRoleToken('service_role', 3600, clock());
}
