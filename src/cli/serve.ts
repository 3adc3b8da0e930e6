import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { writeSampleIfNone } from '../data/sample.js';
import type { Config } from '../config/schema.js';
import { SchemaRefusedError } from '../stores/postgres/gotrue-schema.js';
import { DatabaseUnreachableError } from '../stores/postgres/startup.js';
import { existsSync } from 'node:fs';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from './errors.js';
import { snapshotOnKey } from './snapshots.js';
import { addConfigOptions, loadOptionsOf, type ConfigFlags } from './config-options.js';

export function serveCommand(): Command {
  return addConfigOptions(new Command('serve').description('start the server (the default command)')).action(
    async (dataFile: string | undefined, options: ConfigFlags) => serve(dataFile, options),
  );
}

async function serve(dataFile: string | undefined, options: ConfigFlags): Promise<void> {
  const config = await loadConfig(loadOptionsOf(dataFile, options));
  if (!existsSync(config.data.snapshots)) {
    throw new CliError(
      `snapshots folder ${config.data.snapshots} does not exist (set --snapshots)`,
      EXIT_USAGE,
    );
  }
  // `restauth db.json` naming a file that is not there starts as `json-server db.json` did: on its sample.
  if (dataFile !== undefined && config.store.type === 'file') {
    const { dataFile: path, credentialsFile, usersProp } = config.store;
    if (await writeSampleIfNone(path, credentialsFile, usersProp))
      console.log(`restauth: ${path} did not exist: created it with json-server's sample data`);
  }
  // Imported lazily: `restauth init` and `--help` should not load the whole server.
  const { startServer } = await import('../http/server.js');
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config);
  } catch (error) {
    throw explainStartFailure(error, config);
  }
  // Before the line that says it is up: whoever waits for that line (a supervisor, a test) may signal at once.
  closeOnSignals(server);
  console.log(`restauth listening on ${server.url}`);
  const { documents } = server;
  if (documents !== null && config.store.type === 'file') {
    const { dataFile } = config.store;
    snapshotOnKey(process.stdin, config.data.snapshots, documents, (line) => console.log(line), dataFile);
  }
}

function explainStartFailure(error: unknown, config: Config): unknown {
  // Its message names the database, the cause and the setting to change: no stack needed.
  if (error instanceof DatabaseUnreachableError || error instanceof SchemaRefusedError)
    return new CliError(error.message, EXIT_FAILURE);
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') {
    return new CliError(`port ${config.port} is already in use (set --port or RESTAUTH_PORT)`, EXIT_FAILURE);
  }
  if (code === 'EACCES' && config.port < 1024) {
    return new CliError(
      `port ${config.port} needs elevated privileges (set --port or RESTAUTH_PORT)`,
      EXIT_FAILURE,
    );
  }
  if (code === 'EADDRNOTAVAIL') {
    return new CliError(
      `cannot listen on ${config.host}: no such local address (set --host or RESTAUTH_HOST)`,
    );
  }
  return error;
}

/**
 * SIGINT/SIGTERM/SIGHUP/SIGUSR2: stop accepting, finish in-flight requests and writes, exit. A second
 * signal exits at once. SIGHUP (the terminal or ssh session closed) and SIGUSR2 (what nodemon and
 * other restarters send) ended the process mid-request by Node's default, which does not keep nohup's
 * "ignored"; the configuration is read once, so there is nothing to reload.
 *
 * SIGUSR1 is logged and otherwise ignored: by Node's default it opens the inspector on 127.0.0.1:9229,
 * where any local user (not only restauth's, who sent the signal) could run code in the server; an
 * operator used to daemons that reopen their logs on SIGUSR1 would open it unknowingly. A listener
 * keeps Node from opening it (Node 20; `--disable-sigusr1` exists only from 22.14); `--inspect` at
 * start still does.
 */
function closeOnSignals(server: { close(): Promise<void> }): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) process.exit(130);
    closing = true;
    console.error(`restauth: ${signal} received, closing`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('restauth: error while closing:', error);
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR2'] as const) process.on(signal, onSignal);
  process.on('SIGUSR1', () =>
    console.error(
      'restauth: SIGUSR1 received and ignored (no inspector; start node with --inspect to debug)',
    ),
  );
}
