/**
 * How deep client JSON may nest (objects and arrays; the outermost is level
 * 1), on every route: an auth dialect's body and a data-API record alike.
 * One limit, because both end up in the same stored documents (a sign-up's
 * user data becomes the user's record in db.json, which the data API serves)
 * and every later parse, stringify, query and rewrite of what was stored walks
 * it. Nothing a client of any dialect sends comes near it.
 */
export const MAX_JSON_DEPTH = 32;

/** Whether `text` opens more than `limit` arrays and objects inside each other (strings skipped). */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c)
        i++; // a backslash escapes the next character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b || char === 0x7b) {
      if (++depth > limit) return true;
    } else if (char === 0x5d || char === 0x7d) depth--;
  }
  return false;
}

/**
 * Whether a parsed JSON value opens more than `limit` arrays and objects inside each other, as
 * nestsDeeperThan tells of its text. A walk of the parsed tree with a stack of its own (no recursion,
 * so any depth is walked): at 50,000 users the text's scan, a JavaScript loop over credentials.json's
 * 48 MB, was 0.24 s of a start, this walk over what JSON.parse made 0.11 s.
 */
export function valueNestsDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const pending: object[] = [value];
  const depths: number[] = [1];
  while (pending.length > 0) {
    const container = pending.pop() as Record<string, unknown>;
    const depth = depths.pop()!;
    if (depth > limit) return true;
    if (Array.isArray(container)) {
      for (const item of container as unknown[]) {
        if (typeof item === 'object' && item !== null) {
          pending.push(item);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in container) {
        const item = container[key];
        if (typeof item === 'object' && item !== null) {
          pending.push(item);
          depths.push(depth + 1);
        }
      }
    }
  }
  return false;
}
