/**
 * Schemes no redirect may lead to, even when an operator lists one: each runs code in the page
 * that follows the link (javascript:, vbscript:), shows content the attacker wrote under no
 * origin of the app's (data:, blob:, about:, view-source:), or opens local or other-protocol
 * resources (file:, filesystem:, ftp:, ws(s):). http(s) are checked as web addresses instead.
 */
const NEVER: ReadonlySet<string> = new Set([
  'javascript:',
  'vbscript:',
  'data:',
  'blob:',
  'about:',
  'view-source:',
  'file:',
  'filesystem:',
  'ftp:',
  'ws:',
  'wss:',
]);

export function isWebScheme(protocol: string): boolean {
  return protocol === 'https:' || protocol === 'http:';
}

/**
 * A mobile app's own scheme (io.supabase.flutterquickstart:, com.example.app:), to which GoTrue
 * hands a session when the allow-list names the deep link. `protocol` is as the URL parser
 * writes it (lower case, tabs and newlines removed), so "JAVASCRIPT:" or "java\tscript:" is
 * "javascript:" here.
 */
export function isDeepLinkScheme(protocol: string): boolean {
  return !isWebScheme(protocol) && !NEVER.has(protocol);
}
