import ipaddr from 'ipaddr.js';

/** The ranges of proxy-addr's names (Fastify's trustProxy), as proxy-addr defines them. */
const NAMED_RANGES: Record<string, string[]> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** One trustProxy entry (checked at load: trust-proxy.ts) as CIDR ranges. */
function rangesOf(entry: string): Range[] {
  const named = Object.hasOwn(NAMED_RANGES, entry) ? NAMED_RANGES[entry]! : null;
  if (named !== null) return named.map((cidr) => ipaddr.parseCIDR(cidr));
  const [address = '', mask] = entry.split('/');
  const parsed = ipaddr.process(address);
  if (mask === undefined) return [[parsed, parsed.kind() === 'ipv4' ? 32 : 128]];
  // An IPv4 netmask (255.255.0.0) or a prefix length.
  const bits = /^\d+$/.test(mask) ? Number(mask) : ipaddr.IPv4.parse(mask).prefixLengthFromSubnetMask()!;
  return [[parsed, bits]];
}

/**
 * Whether an address is one of the `trustProxy` entries (addresses, CIDR ranges and proxy-addr's
 * names), as a connection's peer address: IPv4 written as IPv6 (`::ffff:10.0.0.1`) counts as IPv4.
 */
export function proxyAddresses(entries: readonly string[]): (address: string) => boolean {
  const ranges = entries.flatMap(rangesOf);
  return (address) => {
    if (!ipaddr.isValid(address)) return false;
    const parsed = ipaddr.process(address);
    return ranges.some(([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits));
  };
}
