/** Node's default bound on a request's header section: room for everything but a large token. */
const NODE_DEFAULT_BYTES = 16 * 1024;
/** The access token's claims besides the two metadata objects (ids, email, amr, dates), with room to spare. */
const OTHER_CLAIMS_BYTES = 4 * 1024;

/**
 * The largest request header section restauth accepts: Node's default, plus room for the largest
 * access token restauth issues, whose user_metadata and app_metadata hold up to bodyLimit bytes
 * of JSON each (mergeMetadata), base64url-encoded (4/3 of their size). With Node's default alone,
 * a token over about 16 KiB (a sign-up with 12 KB of user data, well within bodyLimit) was refused
 * 431 by restauth itself, on every route: its user could not even shrink the data again. GoTrue,
 * in Go, takes headers up to 1 MB. The bound stays: a header section beyond it is still a 431.
 */
export function maxHeaderBytes(bodyLimit: number): number {
  return NODE_DEFAULT_BYTES + Math.ceil(((2 * bodyLimit + OTHER_CLAIMS_BYTES) * 4) / 3);
}
