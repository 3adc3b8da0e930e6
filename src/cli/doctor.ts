import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Command } from 'commander';
import { loadConfigWithSources } from '../config/load.js';
import type { Config, FileStoreConfig, PostgresStoreConfig } from '../config/schema.js';
import { formatProblem } from '../config/setup-policy.js';
import { instanceLockPath } from '../stores/file/file-database.js';
import { InstanceLock, InstanceLockedError } from '../stores/file/instance-lock.js';
import { mailQueuePath } from '../stores/file/outbox.js';
import { CliError, EXIT_FAILURE } from './errors.js';
import { addConfigOptions, loadOptionsOf, type ConfigFlags } from './config-options.js';
import { jsonParseProblem } from '../lib/json-parse-problem.js';

/** One line of the report. */
export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
}

/** Beyond this the database's clock and this machine's disagree enough to matter (token times, expiries). */
const MAX_SKEW_MS = 5000;

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

async function fileStoreChecks(store: FileStoreConfig, stateDir: string): Promise<Check[]> {
  const checks: Check[] = [];
  const folder = dirname(store.dataFile);
  const writable = await access(folder, constants.W_OK).then(
    () => true,
    () => false,
  );
  checks.push({
    name: 'data folder',
    status: writable ? 'ok' : 'fail',
    detail: writable ? `${folder} is writable` : `${folder} is missing or not writable`,
  });
  for (const file of [store.dataFile, store.credentialsFile]) {
    const read = await readFile(file, 'utf8').then(
      (text) => ({ text }),
      (error: NodeJS.ErrnoException) => ({ error }),
    );
    if ('error' in read) {
      const absent = read.error.code === 'ENOENT';
      checks.push({
        name: 'store file',
        status: absent ? 'warn' : 'fail',
        detail: absent
          ? `${file} does not exist yet (created at the first start)`
          : `${file}: ${read.error.message}`,
      });
      continue;
    }
    try {
      JSON.parse(read.text);
      checks.push({ name: 'store file', status: 'ok', detail: `${file} reads as JSON` });
    } catch (error) {
      checks.push({ name: 'store file', status: 'fail', detail: `${file}: ${jsonParseProblem(error)}` });
    }
  }
  // The locks say whether a server runs on these files; a doctor never waits for one nor keeps it.
  // Every lock a start takes, not only the data file's: a server on another data file in this folder
  // holds credentials.json's, one with other files but this state folder the mail queue's.
  for (const file of [store.dataFile, store.credentialsFile, mailQueuePath(stateDir)]) {
    checks.push(await lockCheck(file));
  }
  return checks;
}

/** Whether `file`'s instance lock is free, held by a running restauth, or cannot be taken. */
async function lockCheck(file: string): Promise<Check> {
  const lockPath = instanceLockPath(file);
  try {
    const lock = await InstanceLock.acquire(lockPath, file);
    await lock.release();
    return { name: 'instance lock', status: 'ok', detail: `no restauth is running on ${file}` };
  } catch (error) {
    if (error instanceof InstanceLockedError)
      return { name: 'instance lock', status: 'ok', detail: lockHeldDetail(error) };
    // A folder no start has made yet (the state folder): nothing holds its lock. A missing data
    // folder is the data folder check's failure.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return {
        name: 'instance lock',
        status: 'ok',
        detail: `${dirname(lockPath)} does not exist yet (made at the first start)`,
      };
    return {
      name: 'instance lock',
      status: 'fail',
      detail:
        `cannot take ${lockPath}, which restauth takes at every start (${message(error)}): ` +
        'run the doctor as the user restauth runs as; that user needs write access to the folder',
    };
  }
}

/**
 * A held lock is what a serving instance looks like (ok), but the instance's own message says "stop
 * it first", which is advice for a second server, not for a check: say what it means and when to act.
 */
function lockHeldDetail(error: InstanceLockedError): string {
  const owner = error.owner === null ? '' : ` (pid ${error.owner}, as its own PID namespace numbers it)`;
  return (
    `${error.guardedFile} is in use by a running restauth${owner}: nothing to do while it serves; ` +
    'stop it before `restauth users` or another `restauth serve` on these files. ' +
    `If none should be running, \`fuser -v ${error.lockPath}\` names the process holding the lock`
  );
}

async function postgresChecks(store: PostgresStoreConfig, config: Config): Promise<Check[]> {
  // Imported here: every other command (serve above all) starts without pg.
  const [
    { schemaNames },
    { migrationStatus },
    { createPool },
    { softDeletedSessionsProblem },
    { replicaTriggersProblem },
  ] = await Promise.all([
    import('../stores/postgres/index.js'),
    import('../stores/postgres/migrate.js'),
    import('../stores/postgres/pool.js'),
    import('../stores/postgres/soft-deleted-sessions.js'),
    import('../stores/postgres/replica-triggers.js'),
  ]);
  const pool = createPool({ ...store, poolMin: 0, poolMax: 1 }, { info() {}, warn() {} });
  try {
    const sent = Date.now();
    let now: Date;
    try {
      const { rows } = await pool.query<{ now: Date }>('SELECT now() AS now');
      now = rows[0]!.now;
    } catch (error) {
      return [{ name: 'database', status: 'fail', detail: `cannot reach PostgreSQL: ${message(error)}` }];
    }
    const received = Date.now();
    const checks: Check[] = [{ name: 'database', status: 'ok', detail: `answers (${received - sent} ms)` }];
    // The database's now() is taken somewhere in the round trip: compare it with its middle.
    const skew = now.getTime() - (sent + received) / 2;
    const uncertainty = (received - sent) / 2;
    checks.push({
      name: 'clock skew',
      status: Math.abs(skew) - uncertainty > MAX_SKEW_MS ? 'fail' : 'ok',
      detail: `the database's clock is ${(skew / 1000).toFixed(1)} s ${skew >= 0 ? 'ahead of' : 'behind'} this machine's (±${(uncertainty / 1000).toFixed(1)} s; at most ${MAX_SKEW_MS / 1000} s)`,
    });
    const names = schemaNames(store, config.roles);
    const status = await migrationStatus(pool, names);
    if (status.gotrueUnknown.length > 0) {
      checks.push({
        name: 'migrations',
        status: 'fail',
        detail: `GoTrue migrations newer than this restauth knows: ${status.gotrueUnknown.join(', ')}`,
      });
    } else if (status.pending.length > 0) {
      // Applied by the next start or `restauth migrate`: not a failure, but the schema is behind.
      checks.push({
        name: 'migrations',
        status: 'warn',
        detail: `${status.pending.length} pending (${status.pending.map((m) => m.version).join(', ')}): applied at the next start, or run restauth migrate`,
      });
    } else {
      checks.push({
        name: 'migrations',
        status: 'ok',
        detail: `${status.applied.length} applied, none pending`,
      });
      const problem = await softDeletedSessionsProblem(pool, names);
      checks.push(
        problem === null
          ? { name: 'soft-deleted users', status: 'ok', detail: 'none holds a session' }
          : { name: 'soft-deleted users', status: 'warn', detail: problem },
      );
      const triggers = await replicaTriggersProblem(pool, names);
      checks.push(
        triggers === null
          ? { name: 'replica-mode triggers', status: 'ok', detail: 'every one is enabled' }
          : { name: 'replica-mode triggers', status: 'warn', detail: triggers },
      );
    }
    return checks;
  } catch (error) {
    return [{ name: 'database', status: 'fail', detail: message(error) }];
  } finally {
    await pool.end();
  }
}

async function mailChecks(config: Config): Promise<Check[]> {
  if (config.email === null) {
    return [
      {
        name: 'mail',
        status: 'warn',
        detail: `no SMTP server: mails go to the development outbox ${config.outboxDir}`,
      },
    ];
  }
  const { SmtpMailer } = await import('../mail/mailer.js');
  const mailer = new SmtpMailer(config.email);
  try {
    await mailer.verify();
    return [{ name: 'mail', status: 'ok', detail: 'the SMTP server answers and accepts the login' }];
  } catch (error) {
    return [{ name: 'mail', status: 'fail', detail: `the SMTP server: ${message(error)}` }];
  } finally {
    await mailer.close();
  }
}

/** Every check of a deployment: the configuration, the store, the mail server. */
export async function runChecks(
  config: Config,
  problems: readonly string[],
  warnings: readonly string[] = [],
): Promise<Check[]> {
  const checks: Check[] = problems.map((problem) => ({
    name: 'configuration',
    status: config.development ? 'warn' : 'fail',
    detail: problem,
  }));
  // The start's warnings (a wide allow-list glob, a protection turned off, an unknown key) are
  // problems of the deployment too: a check each, not only a line on stderr above the list.
  checks.push(
    ...warnings.map((warning): Check => ({ name: 'configuration', status: 'warn', detail: warning })),
  );
  if (checks.length === 0)
    checks.push({ name: 'configuration', status: 'ok', detail: 'loads, no weak setting' });
  checks.push(
    ...(config.store.type === 'file'
      ? await fileStoreChecks(config.store, config.stateDir)
      : await postgresChecks(config.store, config)),
  );
  checks.push(...(await mailChecks(config)));
  return checks;
}

export function doctorCommand(): Command {
  return addConfigOptions(
    new Command('doctor').description(
      'check a deployment: configuration, store reachable and migrated, clock skew, mail server; one line per check, exit 1 on a failure',
    ),
  )
    .option('--json', 'print the checks as JSON')
    .action(async (dataFile: string | undefined, options: ConfigFlags & { json?: boolean }) => {
      const warnings: string[] = [];
      const { config, problems } = await loadConfigWithSources({
        ...loadOptionsOf(dataFile, options),
        setupPolicy: 'report',
        warn: (warning) => warnings.push(warning),
      });
      const checks = await runChecks(config, problems.map(formatProblem), [...new Set(warnings)]);
      if (options.json) {
        console.log(JSON.stringify(checks, null, 2));
      } else {
        for (const check of checks) console.log(`${check.status.padEnd(4)}  ${check.name}: ${check.detail}`);
      }
      const failed = checks.filter((check) => check.status === 'fail').length;
      if (failed > 0) throw new CliError(`${failed} check${failed === 1 ? '' : 's'} failed`, EXIT_FAILURE);
    });
}
