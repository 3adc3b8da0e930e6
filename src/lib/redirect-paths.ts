/** A "/" or "\" percent-encoded, once or more ("%2F", "%252F", "%5c"). */
const ENCODED_SEPARATOR = /%(?:25)*(?:2f|5c)/iu;
/** A "." percent-encoded, once or more. */
const ENCODED_DOT = /%(?:25)*2e/giu;

/**
 * Whether a path holds a separator or a dot segment written encoded, which the URL parser leaves as
 * it is and a server behind the target may decode: "https://app.example.com/auth/..%2F..%2Fadmin"
 * starts with the prefix "https://app.example.com/auth/" yet may be served as "/admin". Plain
 * and once-encoded dot segments ("..", "%2e%2e") the parser has already resolved. GoTrue's globs admit
 * these; restauth refuses them wherever a prefix or a glob (not one whole URL) decides.
 */
export function hasEncodedTraversal(pathname: string): boolean {
  if (ENCODED_SEPARATOR.test(pathname)) return true;
  return pathname.split('/').some((segment) => {
    const dots = segment.replace(ENCODED_DOT, '.');
    return dots !== segment && (dots === '.' || dots === '..');
  });
}
