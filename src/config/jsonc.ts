import { readFile } from 'node:fs/promises';
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { ConfigError } from './errors.js';

/** Line and column (1-based) of a character offset, for messages. */
function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/**
 * JSON with comments and trailing commas: postgrest-auth's README example has
 * `//` comments, so such a file must load. A syntax error names file, line, column.
 */
export function parseJsonc(text: string, file: string): unknown {
  if (text.trim() === '') throw new ConfigError(`${file}: the file is empty`);
  const errors: ParseError[] = [];
  const value: unknown = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  const first = errors[0];
  if (first !== undefined) {
    const { line, column } = position(text, first.offset);
    throw new ConfigError(`${file}:${line}:${column}: invalid JSON (${printParseErrorCode(first.error)})`);
  }
  return value;
}

export async function readJsoncFile(path: string, label = path): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(error);
    throw new ConfigError(`${label}: cannot read the file (${reason})`);
  }
  // Editors on Windows may save a byte-order mark; JSON.parse-style readers choke on it.
  return parseJsonc(text.replace(/^\uFEFF/, ''), label);
}
