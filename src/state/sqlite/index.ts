/** The sqlite backend's face: loaded on demand by createStore (../index.ts) and by tests. */
export { SqliteStore, type SqliteStoreOptions } from './store.js';
