import { isIP } from 'node:net';
import { isLoopbackAddress } from './loopback-address.js';

/** GoTrue's regularHostname (internal/utilities/request.go), on a host the URL parser has lower-cased. */
const REGULAR_HOSTNAME = /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/u;

/**
 * Whether a web redirect_to's host (as the URL parser writes it) may be matched against the
 * allow-list at all. GoTrue refuses, before any entry is read, an IP literal that is not loopback
 * as Go's IsLoopback reads it (isLoopbackAddress: [::ffff:7f00:1] is loopback too; a
 * "https://10.0.0.*" entry names other people's machines on every network the user joins),
 * a host in decimal form (which the parser has already written as an IPv4 address here), and a
 * host with characters names do not use ("_", a trailing "."). restauth refuses the same. GoTrue
 * then also admits every loopback IP literal without any entry; restauth does not: that would hand a
 * mailed session to whatever listens on any port of the user's machine.
 */
export function isMatchableWebHost(hostname: string): boolean {
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (isIP(bare) !== 0) return isLoopbackAddress(bare);
  return REGULAR_HOSTNAME.test(hostname);
}
