import { BlockList, isIP } from 'node:net';

/**
 * The loopback addresses as Go's net.IP.IsLoopback reads them (GoTrue's IsRedirectURLValid asks it):
 * 127.0.0.0/8 and ::1, and 127.0.0.0/8 written as IPv4-mapped IPv6 (::ffff:127.0.0.1, which the URL
 * parser writes [::ffff:7f00:1]), which BlockList matches against its IPv4 rules. Not the deprecated
 * IPv4-compatible form (::127.0.0.1) nor NAT64's: Go's IsLoopback refuses those, and so do the stacks.
 */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether `address` (an IP literal, without brackets; anything else is not) is a loopback address. */
export function isLoopbackAddress(address: string): boolean {
  const family = isIP(address);
  return family !== 0 && LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
}
