import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import ipaddr from 'ipaddr.js';
import type { RateLimitFamily, RateLimiter } from '../core/rate-limit.js';

/** Builds the preHandler that counts a request against its family's limit. */
export type RateLimitHook = (family: RateLimitFamily) => preHandlerAsyncHookHandler;

/**
 * The client's address: Fastify's `request.ip`, which follows X-Forwarded-For
 * only through the configured trusted proxies (`trustProxy`), from the right,
 * so the entries a client writes itself never pick its bucket.
 */
export function clientAddress(request: FastifyRequest): string {
  return request.ip;
}

/** The IPv6 prefix one client is counted by: a /64 is what a single host or home network is given. */
const IPV6_CLIENT_PREFIX = 64;

/**
 * The rate-limit bucket of a client address: an IPv4 address as it is (also when written as
 * IPv6, `::ffff:192.0.2.1`, as a dual-stack socket reports it), an IPv6 address by its /64. An
 * IPv6 host is routinely given a whole /64 (SLAAC, privacy addresses), so counting each address
 * let one client take a fresh bucket for every request; and an address spelt another way
 * (upper case, zeros written out) must not be another bucket either.
 */
export function rateLimitBucket(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const network = ipaddr.IPv6.networkAddressFromCIDR(`${parsed.toString()}/${IPV6_CLIENT_PREFIX}`);
  return `${network.toString()}/${IPV6_CLIENT_PREFIX}`;
}

/** What an unlimited family's routes run: nothing (its bucket, an address parsed, cost 33 µs a request). */
const unlimited: preHandlerAsyncHookHandler = async () => {};

export function rateLimitHook(limiter: RateLimiter): RateLimitHook {
  return (family) =>
    limiter.limits(family)
      ? async (request) => {
          await limiter.check(family, rateLimitBucket(clientAddress(request)));
        }
      : unlimited;
}
