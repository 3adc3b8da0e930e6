/**
 * The change lines of a journal's text: the first line written after its file was (re)written is a
 * base line naming that file (src/stores/file/journal.ts), which changes nothing and is left out.
 */
export function changeLines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('{"op":"base",'));
}
