import { readFile } from 'node:fs/promises';
import { parse, printParseErrorCode, visit, type ParseError } from 'jsonc-parser';
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
function parseJsonc(text: string, file: string): unknown {
  if (text.trim() === '') throw new ConfigError(`${file}: the file is empty`);
  const errors: ParseError[] = [];
  const value: unknown = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  const first = errors[0];
  if (first !== undefined) {
    const { line, column } = position(text, first.offset);
    throw new ConfigError(`${file}:${line}:${column}: invalid JSON (${printParseErrorCode(first.error)})`);
  }
  refuseObjectKeys(text, file);
  return value;
}

/** Keys that reach an object's prototype when assigned (the parser builds objects with `obj[key] = v`). */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * No string is a plain-object key where it could reach a prototype (DESIGN,
 * Principles): a config or routes file with `__proto__` would set the parsed
 * object's prototype, and its settings would hide there from validation.
 */
function refuseObjectKeys(text: string, file: string): void {
  visit(
    text,
    {
      onObjectProperty(property, offset) {
        if (!PROTOTYPE_KEYS.has(property)) return;
        const { line, column } = position(text, offset);
        throw new ConfigError(`${file}:${line}:${column}: "${property}" is not allowed as a key`);
      },
    },
    { allowTrailingComma: true, disallowComments: false },
  );
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
