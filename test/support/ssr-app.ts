import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServerClient, parseCookieHeader, serializeCookieHeader } from '@supabase/ssr';
import type { SupabaseClientOptions } from '@supabase/supabase-js';
// The client's type as @supabase/ssr's declarations see it (supabase-js declares it apart for import).
import type { SupabaseClient } from '@supabase/supabase-js' with { 'resolution-mode': 'require' };
import { WebSocket } from 'ws';

/**
 * supabase-js builds a realtime client, which on Node 20 needs a WebSocket class (it never connects
 * here): ws's, whose types are not the DOM-like ones realtime-js declares.
 */
type RealtimeTransport = NonNullable<NonNullable<SupabaseClientOptions<'public'>['realtime']>['transport']>;
const transport = WebSocket as unknown as RealtimeTransport;

/** What a page of a server-rendered app is given: its request, and a client reading its cookies. */
export interface SsrRequest {
  request: IncomingMessage;
  url: URL;
  /** The unmodified createServerClient, keeping the PKCE verifier and the session in cookies. */
  supabase: SupabaseClient;
  /** Answers with an HTML page (and the cookies the client set). */
  send: (status: number, html: string, headers?: Record<string, string>) => void;
}

/**
 * A server-rendered app as @supabase/ssr makes one (what Next.js, SvelteKit and Remix apps do), on
 * restauth at `supabaseUrl`: `route` answers each request; an error it throws answers 500 with its text.
 */
export function ssrServer(supabaseUrl: string, route: (page: SsrRequest) => Promise<void>): Server {
  return createServer((request, response) => {
    void answer(request, response).catch((error: unknown) => {
      response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(String(error));
    });
  });

  async function answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', `http://${request.headers.host}`);
    const setCookies: string[] = [];
    const supabase = createServerClient(supabaseUrl, 'anon-key', {
      realtime: { transport },
      cookies: {
        getAll: () =>
          parseCookieHeader(request.headers.cookie ?? '').map(({ name, value }) => ({
            name,
            value: value ?? '',
          })),
        setAll: (cookies) => {
          for (const { name, value, options } of cookies)
            setCookies.push(serializeCookieHeader(name, value, options));
        },
      },
    });
    const send = (status: number, html: string, headers: Record<string, string> = {}) => {
      response.writeHead(status, {
        'content-type': 'text/html; charset=utf-8',
        'set-cookie': setCookies,
        ...headers,
      });
      response.end(`<!doctype html><title>app</title>${html}`);
    };
    await route({ request, url, supabase, send });
  }
}
