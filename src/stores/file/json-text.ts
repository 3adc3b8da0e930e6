/**
 * `JSON.stringify(doc, null, 2) + '\n'` for the data document, without
 * re-serializing every record on every commit. Each record of a top-level
 * array keeps its serialized text in a WeakMap keyed by the record object;
 * a commit re-serializes only records it has not seen and joins the rest.
 *
 * This is exact only if a record object is never changed in place once it
 * is in the document: every writer (the data API, the file store) replaces
 * a record with a new object instead (see the comments there), and a reload
 * parses new objects. test/stores/json-text.test.ts holds it to
 * JSON.stringify's output byte for byte.
 */
const recordText = new WeakMap<object, string>();

/** Inside a top-level array, a record starts 4 spaces in. */
const RECORD_INDENT = '\n    ';

export function documentText(doc: Record<string, unknown>): string {
  const members: string[] = [];
  for (const [key, value] of Object.entries(doc)) {
    const text = Array.isArray(value)
      ? arrayText(value)
      : JSON.stringify(value, null, 2)?.replaceAll('\n', '\n  ');
    // As JSON.stringify: members whose value has no JSON form (undefined, functions) are left out.
    if (text !== undefined) members.push(`${JSON.stringify(key)}: ${text}`);
  }
  return members.length === 0 ? '{}\n' : `{\n  ${members.join(',\n  ')}\n}\n`;
}

function arrayText(rows: unknown[]): string {
  if (rows.length === 0) return '[]';
  const parts = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) parts[i] = elementText(rows[i]);
  return `[${RECORD_INDENT}${parts.join(`,${RECORD_INDENT}`)}\n  ]`;
}

function elementText(row: unknown): string {
  if (typeof row !== 'object' || row === null) {
    // As JSON.stringify in an array: no JSON form becomes null.
    return (JSON.stringify(row, null, 2) ?? 'null').replaceAll('\n', RECORD_INDENT);
  }
  let text = recordText.get(row);
  if (text === undefined) {
    text = JSON.stringify(row, null, 2).replaceAll('\n', RECORD_INDENT);
    recordText.set(row, text);
  }
  return text;
}
