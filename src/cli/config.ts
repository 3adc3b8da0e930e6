import { Command } from 'commander';
import { describeConfig, formatSettings } from '../config/describe.js';
import { loadConfigWithSources } from '../config/load.js';
import { addConfigOptions, loadOptionsOf, type ConfigFlags } from './config-options.js';

/**
 * `restauth config`: the configuration serve would run with, given the same
 * files, environment and flags; every value with its source, secrets redacted.
 */
export function configCommand(): Command {
  return addConfigOptions(
    new Command('config').description(
      'print the effective configuration: every value and where it came from (default, file, environment, flag), secrets redacted',
    ),
  )
    .option('--json', 'print JSON: { "<key>": { "value": ..., "source": "..." } }')
    .action(async (dataFile: string | undefined, options: ConfigFlags & { json?: boolean }) => {
      const { config, sources } = await loadConfigWithSources(loadOptionsOf(dataFile, options));
      const settings = describeConfig(config, sources);
      if (options.json) {
        const byKey = Object.fromEntries(settings.map(({ key, value, source }) => [key, { value, source }]));
        console.log(JSON.stringify(byKey, null, 2));
      } else {
        console.log(formatSettings(settings));
      }
    });
}
