import type { Config } from '../config/schema.js';
import { resolveJwtSecret } from '../config/secret.js';
import { createServices } from '../compose.js';
import { buildApp } from './app.js';
import { currentRequestContext } from './request-context.js';

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Fastify/pino logger options; true logs at info. */
  logger?: boolean | Record<string, unknown>;
}

/**
 * Starts restauth on the configured host and port. Throws an Error with
 * `code === 'EADDRINUSE'` when the port is taken, and the store's own error
 * when another restauth already holds the data files.
 */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  // Start-up messages (generated secret, reloaded files) go to the console, before the app's logger exists.
  const resolved = await resolveJwtSecret(config, console);
  const services = await createServices(resolved, console, { requestContext: currentRequestContext });
  const app = await buildApp(services, { logger: options.logger ?? { level: 'info' } });
  app.addHook('onClose', async () => services.close());
  try {
    const url = await app.listen({ port: config.port, host: config.host });
    return { url, close: () => app.close() };
  } catch (error) {
    await app.close();
    throw error;
  }
}
