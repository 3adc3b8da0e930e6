/** Small readers the presets share: what a provider's JSON holds, taken only when it has the expected type. */

/** A non-empty string, else null. */
export function text(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/** A JSON object's own fields, or an empty object for anything else (an array, null, a string). */
export function fields(value: unknown): Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** An id a provider sends as a number (GitHub's, GitLab's) or a string, as GoTrue writes it: decimal text. */
export function idText(value: unknown): string | null {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return text(value);
}

/** A configured base address without its trailing slashes, else the default (GoTrue's chooseHost). */
export function baseUrl(configured: string | null, fallback: string): string {
  return configured === null || configured === '' ? fallback : configured.replace(/\/+$/u, '');
}

/** Fields kept in identity_data only when they say something (GoTrue's omitempty). */
export function present(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(values).filter(([, value]) => value !== null && value !== undefined && value !== ''),
  );
}
