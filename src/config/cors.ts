import { ConfigError } from './errors.js';
import { withoutUrlPassword } from './url-password.js';

/**
 * Each entry of a `cors` origin list must be an origin as a browser sends it in its Origin header
 * (scheme://host[:port], no path): anything else would never match, and the setting would silently
 * refuse every browser. Entries are kept as the URL parser writes them (lower-case host, no default
 * port), which is how browsers write the Origin header, so `https://App.example.com:443/` matches.
 */
export function normaliseCorsOrigins(cors: boolean | string[], where: string): boolean | string[] {
  if (typeof cors === 'boolean') return cors;
  return cors.map((entry, index) => {
    const refuse = (): never => {
      throw new ConfigError(
        `${where}: cors[${index}] must be an origin, scheme://host[:port] with no path, query or credentials (got ${JSON.stringify(withoutUrlPassword(entry))})`,
      );
    };
    let parsed: URL;
    try {
      parsed = new URL(entry);
    } catch {
      return refuse();
    }
    const bare =
      parsed.host !== '' &&
      parsed.username === '' &&
      parsed.password === '' &&
      (parsed.pathname === '/' || parsed.pathname === '') &&
      parsed.search === '' &&
      parsed.hash === '' &&
      !entry.endsWith('?') &&
      !entry.endsWith('#');
    if (!bare) refuse();
    // URL.origin is "null" for schemes it does not know (capacitor://, app://), which browsers still send.
    return `${parsed.protocol}//${parsed.host}`;
  });
}
