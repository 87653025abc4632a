// The standalone server, for a host that wants to start it from code (`npm start` runs
// server/main.ts, which does the same from the environment).
export { buildServer, AUTH_PREFIX } from './app.js'
export type { ServerOptions } from './app.js'
export { loadConfig, ConfigError } from './config.js'
export type { Config } from './config.js'
export { openDatabase } from './database.js'
