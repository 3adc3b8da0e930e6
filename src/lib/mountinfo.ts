/** mountinfo (proc(5)) writes a space, tab, newline or backslash in a path as an octal escape (`\040`). */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
