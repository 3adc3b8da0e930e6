/** What a format mapper needs besides the parsed file. */
export interface FormatContext {
  /** Name of the file for messages, as the user gave it. */
  where: string;
  /** Absolute path of the file: relative paths written inside it resolve from its folder. */
  path: string;
  warn: (message: string) => void;
  /** The working directory: json-server.json's paths resolve against it, as json-server resolves them. */
  cwd: string;
}
