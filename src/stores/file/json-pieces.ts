/** A piece ends once this long, whatever its count of members (about a millisecond's stringify). */
const MAX_PIECE_CHARACTERS = 256 * 1024;

/**
 * `JSON.stringify(doc, null, 2) + "\n"`, byte for byte, in pieces: the members of each object or
 * array directly under the top level (credentials.json's maps, its passwords) are stringified on
 * their own, at most `perPiece` to a piece, and each piece is made only when the caller asks for
 * it. A caller that writes each piece before asking for the next holds the event loop for one piece
 * at a time: credentials.json at 50,000 users is 23 MB, and stringified whole it held the loop for
 * about half a second, no request answered meanwhile.
 *
 * `member(container, value)` is what is written for a member of the top-level value named
 * `container` (credentials.json's dates: credentialsPieces).
 */
export function* jsonPieces(
  doc: Record<string, unknown>,
  perPiece: number,
  member: (container: string, value: unknown) => unknown = (_container, value) => value,
): Generator<string> {
  let piece = '{';
  let members = 0;
  for (const key of Object.keys(doc)) {
    const value = doc[key];
    const head = `${members === 0 ? '' : ','}\n  ${JSON.stringify(key)}: `;
    if (!isExpandable(value)) {
      // Skipped as JSON.stringify skips it (undefined, a function).
      const text = JSON.stringify(value, null, 2) as string | undefined;
      if (text === undefined) continue;
      piece += head + indented(text, '\n  ');
      members++;
      continue;
    }
    piece += head;
    members++;
    const isArray = Array.isArray(value);
    piece += isArray ? '[' : '{';
    let written = 0;
    let inPiece = 0;
    for (const name of isArray ? value.keys() : Object.keys(value)) {
      const element = (value as Record<string | number, unknown>)[name];
      let text = JSON.stringify(member(key, element), null, 2) as string | undefined;
      if (text === undefined) {
        // An object leaves such a member out; an array writes null in its place.
        if (!isArray) continue;
        text = 'null';
      }
      const label = isArray ? '' : `${JSON.stringify(name)}: `;
      piece += `${written === 0 ? '' : ','}\n    ${label}${indented(text, '\n    ')}`;
      written++;
      // Large members (a db.json record may be) end a piece early: a piece's length, not its count, stalls.
      if (++inPiece === perPiece || piece.length >= MAX_PIECE_CHARACTERS) {
        yield piece;
        piece = '';
        inPiece = 0;
      }
    }
    const close = isArray ? ']' : '}';
    piece += written === 0 ? close : `\n  ${close}`;
  }
  yield `${piece}${members === 0 ? '}' : '\n}'}\n`;
}

/** An object or array JSON.stringify would write member by member (one without a toJSON of its own). */
function isExpandable(value: unknown): value is Record<string, unknown> | unknown[] {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { toJSON?: unknown }).toJSON !== 'function'
  );
}

/**
 * A value's text one level deeper: its line breaks are all layout (JSON escapes those in strings).
 */
function indented(text: string, lineStart: string): string {
  return text.includes('\n') ? text.replaceAll('\n', lineStart) : text;
}
