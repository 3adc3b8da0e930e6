import { isLoopbackAddress } from '../lib/loopback-address.js';

/** localhost, *.localhost and loopback addresses: traffic that never leaves the machine. */
export function isLocalHost(host: string): boolean {
  const name = host.replace(/^\[|\]$/g, '').toLowerCase();
  return name === 'localhost' || name.endsWith('.localhost') || isLoopbackAddress(name);
}
