/**
 * The config folder's public face: loading and validating the settings, the typed Config,
 * the provider catalog's variables, the warnings that explain it, and the source that reloads them.
 */
export { type ConfigInputs, envFilePath } from './env-file.js';
export { type ConfigWarning, closestName, editDistance } from './explain.js';
export { KNOWN_VARS } from './known.js';
export {
  ConfigError,
  type Loaded,
  type LoadOptions,
  loadConfig,
  maskedEnv,
  maskSecret,
  maskUrlCredentials,
  shownValue,
} from './load.js';
export { pidFilePath, readPidFile, removePidFile, writePidFile } from './pid-file.js';
export * from './schema.js';
export { type ConfigChange, ConfigSource, logWarning, type ReloadLog } from './source.js';
