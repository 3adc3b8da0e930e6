/**
 * json-server-auth's guards, mapped onto restauth's access rules. json-server-auth
 * guards a request by a path prefix, `/664/posts`, usually set in routes.json as
 * `"/posts*": "/664/posts$1"` (or, with its own CLI, `{"posts": 664}`). restauth
 * has per-collection rules with the same digits (access.ts), so:
 *
 * - a rewrite whose target starts with a guard gives the target's collection
 *   that rule, and the guard leaves the target (`"/posts*": "/posts$1"`);
 * - a request that names a guard itself (`GET /664/posts`) is served as
 *   `/posts` under the stricter of the guard and the collection's rule: a
 *   guard in a URL the client chooses can narrow access, never widen it
 *   (in json-server-auth, `/posts` without the guard was open to anyone).
 *
 * A guard restauth cannot express is refused, naming it.
 */

/** A guard as json-server-auth writes it: three digits, first in the path. */
const GUARD = /^\/(\d{3})(?=\/)/u;
/** A collection name at the start of a rewrite target, after its guard: `posts` in `/664/posts$1`. */
const TARGET_NAME = /^\/(\d{3})\/([^/?#$:*]+)/u;

export class GuardError extends Error {
  override readonly name = 'GuardError';
  readonly code = 'EGUARD';
}

/**
 * Whether restauth's rules can say what these digits say: each digit is read (4) and write (2), and
 * whatever the public may do a signed-in user may do, and what a signed-in user may do the owner may
 * (restauth's rules grant in that order). The reason when not, else null.
 */
export function guardProblem(digits: string): string | null {
  if (!/^[0246]{3}$/u.test(digits))
    return 'each digit must be 0, 2, 4 or 6 (4 to read, 2 to write; there is no execute bit)';
  const [owner, loggedIn, anyone] = [...digits].map(Number) as [number, number, number];
  if ((loggedIn & anyone) !== anyone) return 'the public would get what signed-in users do not';
  if ((owner & loggedIn) !== loggedIn) return 'signed-in users would get what the owner does not';
  return null;
}

function checked(digits: string, where: string): number {
  const problem = guardProblem(digits);
  if (problem !== null) throw new GuardError(`${where}: the guard ${digits} cannot be served: ${problem}`);
  return Number(digits);
}

/** Whether a routes file holds json-server-auth's guards (a target starting with `/664/`). */
export function hasGuards(routes: Readonly<Record<string, string>>): boolean {
  return Object.values(routes).some((target) => TARGET_NAME.test(target));
}

export interface GuardedRoutes {
  /** The rewrites, their targets without guards. */
  rewrites: Record<string, string>;
  /** The rule each guarded collection gets from the routes. */
  rules: Record<string, number>;
}

/**
 * Splits a routes file into its rewrites and the rules its guards give. `explicit` are the configured
 * rules (`data.rules`): a guard may not say otherwise of a collection they name (which one would win is
 * not for restauth to guess). `where` names the routes file in messages.
 */
export function parseGuardedRoutes(
  routes: Readonly<Record<string, string>>,
  explicit: Readonly<Record<string, number>>,
  where: string,
): GuardedRoutes {
  const rewrites: Record<string, string> = {};
  const rules = new Map<string, number>();
  for (const [from, target] of Object.entries(routes)) {
    const match = TARGET_NAME.exec(target);
    if (match === null) {
      Object.defineProperty(rewrites, from, { value: target, enumerable: true, writable: true });
      continue;
    }
    const [, digits, name] = match as unknown as [string, string, string];
    const rule = checked(digits, `${where}: "${from}"`);
    const other = rules.get(name);
    if (other !== undefined && other !== rule)
      throw new GuardError(`${where}: ${name} is guarded both ${other} and ${rule}: give it one guard`);
    if (Object.hasOwn(explicit, name) && explicit[name] !== rule) {
      throw new GuardError(
        `${where}: "${from}" guards ${name} ${rule} but data.rules says ${explicit[name]}: say it once`,
      );
    }
    rules.set(name, rule);
    Object.defineProperty(rewrites, from, {
      value: target.slice(digits.length + 1),
      enumerable: true,
      writable: true,
    });
  }
  return { rewrites, rules: Object.fromEntries(rules) };
}

/**
 * A request URL's own guard (`/664/posts?x=1` → 664 and `/posts?x=1`), or null when it names none or
 * one restauth cannot express (then the URL is left alone, and answers 404 as in json-server-auth).
 */
export function stripGuard(url: string): { url: string; guard: number } | null {
  const match = GUARD.exec(url);
  if (match === null || guardProblem(match[1]!) !== null) return null;
  return { url: url.slice(4), guard: Number(match[1]) };
}

/** The stricter of two rules, digit by digit: what both allow. */
export function narrower(a: number, b: number): number {
  const digit = (rule: number, place: number) => Math.floor(rule / place) % 10;
  return [100, 10, 1].reduce((sum, place) => sum + (digit(a, place) & digit(b, place)) * place, 0);
}

/**
 * json-server-auth's own CLI reads `{"users": 600}` in a routes file as `{"/users*": "/600/users$1"}`:
 * a name without a leading `/` whose value is a guard. Expanded here so restauth reads the same file.
 */
export function expandGuardShorthand(
  routes: Readonly<Record<string, string | number>>,
  where: string,
): Record<string, string> {
  const expanded: Record<string, string> = {};
  const define = (key: string, value: string) =>
    Object.defineProperty(expanded, key, { value, enumerable: true, writable: true });
  for (const [from, to] of Object.entries(routes)) {
    const isShorthand = !from.startsWith('/') && /^\d{3}$/u.test(String(to));
    if (isShorthand) define(`/${from}*`, `/${String(to)}/${from}$1`);
    else if (typeof to === 'string') define(from, to);
    else
      throw new GuardError(`${where}: "${from}": a number is a guard for a collection name, such as "posts"`);
  }
  return expanded;
}
