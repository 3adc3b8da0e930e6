import { Command } from 'commander';
import { describeConfig, formatSettings } from '../config/describe.js';
import { loadConfigWithSources } from '../config/load.js';
import { formatProblem } from '../config/setup-policy.js';
import { CliError, EXIT_FAILURE } from './errors.js';
import { addConfigOptions, loadOptionsOf, type ConfigFlags } from './config-options.js';

/**
 * `restauth config`: the configuration serve would run with, given the same
 * files, environment and flags; every value with its source, secrets redacted.
 */
export function configCommand(): Command {
  return addConfigOptions(
    new Command('config').description(
      'print the effective configuration: every value and where it came from (default, file, environment, flag), secrets redacted; exits 1 when serve would refuse it (a weak setup)',
    ),
  )
    .option('--json', 'print JSON: { "<key>": { "value": ..., "source": "..." } }')
    .action(async (dataFile: string | undefined, options: ConfigFlags & { json?: boolean }) => {
      const { config, sources, problems } = await loadConfigWithSources({
        ...loadOptionsOf(dataFile, options),
        setupPolicy: 'report',
      });
      const settings = describeConfig(config, sources);
      if (options.json) {
        const byKey = Object.fromEntries(settings.map(({ key, value, source }) => [key, { value, source }]));
        console.log(JSON.stringify(byKey, null, 2));
      } else {
        console.log(formatSettings(settings));
      }
      // What serve would refuse (or, in development mode, warn about), after the printout it concerns.
      for (const problem of problems) {
        console.error(`restauth: ${config.development ? 'warning' : 'refused'}: ${formatProblem(problem)}`);
      }
      if (problems.length > 0 && !config.development) {
        throw new CliError(
          'serve would refuse to start with this configuration (see above); RESTAUTH_DEV=1 or --dev accepts it for local development only',
          EXIT_FAILURE,
        );
      }
    });
}
