import { isIP } from 'node:net';
import { ConfigError } from './errors.js';
import type { Config } from './schema.js';

/** Names proxy-addr (Fastify's trustProxy) accepts for address ranges. */
const RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isProxyAddress(entry: string): boolean {
  if (RANGE_NAMES.has(entry)) return true;
  const [address = '', mask, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (mask === undefined) return true;
  if (/^\d+$/.test(mask)) return Number(mask) <= (family === 4 ? 32 : 128);
  return family === 4 && isIP(mask) === 4;
}

/** A bad proxy address is a start-up error naming it, not an exception from deep inside Fastify. */
export function checkTrustProxy(trustProxy: Config['trustProxy'], where: string): void {
  if (!Array.isArray(trustProxy)) return;
  trustProxy.forEach((entry, index) => {
    if (!isProxyAddress(entry)) {
      throw new ConfigError(
        `${where}: trustProxy[${index}] must be an IP address, a CIDR range (10.0.0.0/8) or loopback, linklocal, uniquelocal (got ${JSON.stringify(entry)})`,
      );
    }
  });
}

/**
 * The deprecated `rateLimits.trustedProxyHeader` took the leftmost
 * X-Forwarded-For entry, which the client writes. Read as what it meant, one
 * proxy in front (`trustProxy: 1`, whose entry is the rightmost), unless
 * trustProxy is set; either way with a warning.
 */
export function mapTrustedProxyHeader(
  merged: Record<string, unknown>,
  where: string,
  warn: (message: string) => void,
): void {
  const rateLimits = merged['rateLimits'] as Record<string, unknown> | undefined;
  const header = rateLimits?.['trustedProxyHeader'];
  if (typeof header !== 'string') return;
  if (merged['trustProxy'] === undefined) {
    merged['trustProxy'] = 1;
    warn(
      `${where}: rateLimits.trustedProxyHeader is deprecated and read as "trustProxy": 1 (one proxy in front, ` +
        'its X-Forwarded-For entry is the client); set trustProxy to the number or addresses of your proxies instead',
    );
  } else {
    warn(`${where}: rateLimits.trustedProxyHeader is deprecated and ignored: trustProxy is set`);
  }
  if (header.toLowerCase() !== 'x-forwarded-for') {
    warn(`${where}: the client address is read from X-Forwarded-For only; ${header} is not read`);
  }
}
