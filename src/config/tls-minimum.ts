/**
 * TLS versions below 1.2 (TLS 1.0 and 1.1, deprecated by RFC 8996; SSLv3): Node refuses them unless a
 * setting lets them back in, process-wide (`--tls-min-v1.0` or `--tls-min-v1.1`, often in NODE_OPTIONS)
 * or per connection (`tls.minVersion`, or `tls.secureProtocol` naming one old version's method).
 */
const OLD_VERSIONS = new Set(['TLSv1', 'TLSv1.1', 'SSLv3']);
const OLD_METHOD = /^(?:SSLv3|TLSv1|TLSv1_1)_(?:client_|server_)?method$/u;

/** Why the `tls` options of one connection (nodemailer's, Node's) admit a version below TLS 1.2, or null. */
export function tlsMinimumProblem(tls: Record<string, unknown>): string | null {
  const minVersion = tls['minVersion'];
  if (typeof minVersion === 'string' && OLD_VERSIONS.has(minVersion))
    return `minVersion ${minVersion} admits a TLS version below 1.2, which can be broken or downgraded to`;
  const method = tls['secureProtocol'];
  if (typeof method === 'string' && OLD_METHOD.test(method))
    return `secureProtocol ${method} speaks a TLS version below 1.2 only`;
  return null;
}

/** Whether Node's process-wide floor (tls.DEFAULT_MIN_VERSION) was lowered below TLS 1.2. */
export function isOldDefaultMinimum(defaultMinVersion: string): boolean {
  return OLD_VERSIONS.has(defaultMinVersion);
}
