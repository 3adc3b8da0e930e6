import type { Config } from '../config/schema.js';
import type { JsonDocument } from '../core/ports/documents.js';
import { hasGuards } from '../data/guards.js';
import { isBcryptHash } from '../lib/bcrypt-hash.js';

/**
 * Whether json-server-auth's routes are served, and why. `dialects.jsonServerAuth.enabled` decides when
 * set; unset (null), they are served once the data API serves a db.json that is json-server-auth's (a
 * user record holding a bcrypt hash in `password`, or an `email`: restauth keeps both in
 * credentials.json, never in db.json, so only json-server-auth, or a hand, put them there) or a routes
 * file with its guards (`"/posts*": "/664/posts$1"`). Then POST /users registers a user as in
 * json-server-auth; without them it is the data API's 403 (users are created by the sign-up routes), so
 * no data API route is taken from anyone.
 */
export interface JsonServerAuthMount {
  mounted: boolean;
  /** Why it is mounted without being asked for (logged), or null. */
  reason: string | null;
}

export function jsonServerAuthMount(
  config: Config,
  routes: Readonly<Record<string, string>>,
  data: JsonDocument | null,
): JsonServerAuthMount {
  const { enabled } = config.dialects.jsonServerAuth;
  if (enabled !== null) return { mounted: enabled, reason: null };
  const { store } = config;
  if (!config.data.enabled || store.type !== 'file' || data === null) return { mounted: false, reason: null };
  if (hasGuards(routes)) {
    return { mounted: true, reason: "the routes file holds json-server-auth's guards" };
  }
  const users = Object.hasOwn(data, store.usersProp) ? data[store.usersProp] : undefined;
  const isTheirs = (record: unknown) =>
    typeof record === 'object' &&
    record !== null &&
    (isBcryptHash((record as Record<string, unknown>)['password']) ||
      typeof (record as Record<string, unknown>)['email'] === 'string');
  if (Array.isArray(users) && users.some(isTheirs)) {
    return {
      mounted: true,
      reason: `${store.dataFile}'s ${store.usersProp} are json-server-auth's (an email in the record)`,
    };
  }
  return { mounted: false, reason: null };
}

/**
 * The switch of json-server-auth's routes while restauth runs. Under --watch a routes file given
 * guards, or a db.json given json-server-auth's users, makes the project json-server-auth's as it
 * would at start: its routes are then served at once (a guard in force with no /login to get past it
 * would leave the user locked out until a restart). Detected routes stay on once on: a client that
 * registered through them still signs in after its routes file loses its guards.
 */
export class JsonServerAuthSwitch {
  private state: JsonServerAuthMount;

  constructor(
    private readonly config: Config,
    private readonly routes: () => Readonly<Record<string, string>>,
    private readonly data: () => JsonDocument | null,
    private readonly log: (message: string) => void,
  ) {
    this.state = jsonServerAuthMount(config, routes(), data());
    this.announce();
  }

  /** Whether the routes are served now. */
  get mounted(): boolean {
    return this.state.mounted;
  }

  /** Whether they may ever be served in this process: registered at start, served once mounted. */
  get mayMount(): boolean {
    const { enabled } = this.config.dialects.jsonServerAuth;
    return enabled ?? (this.config.data.enabled && this.config.store.type === 'file');
  }

  /** Looks again, after the routes file or db.json was reloaded. */
  update(): void {
    if (this.state.mounted) return;
    this.state = jsonServerAuthMount(this.config, this.routes(), this.data());
    this.announce();
  }

  private announce(): void {
    if (!this.state.mounted || this.state.reason === null) return;
    this.log(
      `json-server-auth's routes are served (POST /register, /signup, /users, /login, /signin): ` +
        `${this.state.reason}; dialects.jsonServerAuth.enabled false turns them off`,
    );
  }
}
