import ipaddr from 'ipaddr.js';
import type { Client } from './audit.js';

/** The IPv6 prefix one client is counted by: a /64 is what a single host or home network is given. */
const IPV6_CLIENT_PREFIX = 64;

/**
 * The rate-limit bucket of a client address: an IPv4 address as it is (also when written as
 * IPv6, `::ffff:192.0.2.1`, as a dual-stack socket reports it), an IPv6 address by its /64. An
 * IPv6 host is routinely given a whole /64 (SLAAC, privacy addresses), so counting each address
 * let one client take a fresh bucket for every request; and an address spelt another way
 * (upper case, zeros written out) must not be another bucket either. Also what a client that
 * signed an account in is remembered by (account-guess-limit.ts).
 */
export function rateLimitBucket(address: string): string {
  const host = withoutPort(address);
  if (!ipaddr.isValid(host)) return address;
  const parsed = ipaddr.process(host);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const network = ipaddr.IPv6.networkAddressFromCIDR(`${parsed.toString()}/${IPV6_CLIENT_PREFIX}`);
  return `${network.toString()}/${IPV6_CLIENT_PREFIX}`;
}

/**
 * The address of `203.0.113.5:51234`, `[2001:db8::1]:51234` or `[2001:db8::1]`: some proxies (Azure
 * Application Gateway, IIS ARR) forward the client with its source port, and with the port each new
 * connection of one client was a bucket of its own, never limited.
 */
function withoutPort(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/u.exec(address);
  if (bracketed) return bracketed[1]!;
  const ipv4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/u.exec(address);
  return ipv4 ? ipv4[1]! : address;
}

/** What the per-account guess limit knows a client by: its rate-limit bucket; null for a call on the host. */
export function clientBucket(client: Client | null): string | null {
  return client?.ip ? rateLimitBucket(client.ip) : null;
}
