import type { TestApp } from './app.js';

/**
 * A service-role token of the app's own key, valid `seconds` (an hour) from the app's clock, which the
 * admin routes judge it by (so it stays valid on an app whose clock is stopped or moved).
 */
export function serviceTokenOf(t: Pick<TestApp, 'services'>, seconds = 3600): Promise<string> {
  const { tokens, clock } = t.services;
  return tokens.signRoleToken('service_role', seconds, clock());
}
