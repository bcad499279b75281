/**
 * The config folder's public face: loading and validating the settings, the typed Config,
 * the provider catalog's variables, and the source that reloads them.
 */
export { type ConfigInputs, envFilePath } from './env-file.js';
export {
  ConfigError,
  type Loaded,
  type LoadOptions,
  loadConfig,
  maskedEnv,
  maskSecret,
} from './load.js';
export * from './schema.js';
export { type ConfigChange, ConfigSource, type ReloadLog } from './source.js';
