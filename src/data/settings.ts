/**
 * What the data API takes from the configuration (config/schema.ts's `data`
 * section fits it): stated here so src/data depends on the documents port and
 * src/lib alone.
 */
export interface DataSettings {
  /** Every write is refused (403). */
  readOnly: boolean;
  /** Primary key property of every collection (json-server's --id). */
  id: string;
  /** posts → postId. */
  foreignKeySuffix: string;
  /** Milliseconds added before every answer (json-server's --delay); `?_delay=` adds up to 10 s more. */
  delay: number;
  /**
   * Answers `?callback=name` reads as JSONP scripts, as json-server did; only
   * reads sent without a token (public data) ever are (docs/data-api.md).
   */
  jsonp: boolean;
  /** Whose query grammar and answer shapes: json-server 0.17 (`_limit`, `_like`) or 1.x (`views:gt`, `_per_page`). */
  jsonServer: '0.17' | '1';
  /** routes.json's rewrites (applied by the app before routing), answered at GET /__rules. */
  routes: Readonly<Record<string, string>>;
  /** Folder of static files, served when it exists. */
  static: string;
  /** Per-collection permission digits (owner / logged-in / public). */
  rules: Readonly<Record<string, number>>;
  defaultRule: number;
  /** Property naming a record's owner. */
  ownerProp: string;
}
