#!/usr/bin/env node
// Process entry of the standalone server (`npm start`): configuration, the database (embedded
// unless DATABASE_URL is set), migrations, then the server. Nothing here is needed by tests,
// which build the server directly.
import { loadConfig, ConfigError } from './config.js'
import { openDatabase } from './database.js'
import { migrate } from '../db/migrate.js'
import { buildServer } from './app.js'

async function main(): Promise<void> {
  const config = loadConfig()
  const { url: databaseUrl, stop: stopDatabase } = await openDatabase(config)
  try {
    // Past a transaction pooler, Prisma's advisory lock would not hold: the direct connection.
    await migrate(config.databaseDirectUrl ?? databaseUrl)
    const app = await buildServer({ config, databaseUrl })
    let closing = false
    const shutdown = async (signal: string) => {
      if (closing) return
      closing = true
      app.log.info({ signal }, 'shutting down: finishing in-flight requests')
      // A request stuck past this is abandoned rather than keeping a deploy waiting forever.
      setTimeout(() => {
        app.log.error('shutdown took longer than 10 s; exiting anyway')
        process.exit(1)
      }, 10_000).unref()
      // Requests in flight finish while new ones get 503 (the socket stays open for that);
      // then close() stops listening. Once drained, nothing is left to answer: the connections
      // still open are idle keep-alive ones, or ones a client opened without sending a
      // request, which Node counts as busy until their headers time out (60 s). Either would
      // hold close() open, so every connection is closed until it has returned.
      await app.drain()
      const reaper = setInterval(() => app.server.closeAllConnections(), 50)
      app.server.closeAllConnections()
      await app.close() // then the onClose hooks close the denylist listener and the pool
      clearInterval(reaper)
      await stopDatabase()
      process.exit(0)
    }
    // SIGHUP too: a closed terminal should drain and stop the embedded server like Ctrl-C.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => void shutdown(signal))
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    await stopDatabase()
    throw err
  }
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err)
  process.exit(1)
})
