// A counting HTTP proxy in front of the auth service, as a resource server would reach it
// through a load balancer: it counts every request it forwards (so a test can show that
// protected calls cost the auth service nothing), can be pointed at another upstream (an
// instance restarted on a new port), and can write into the event streams it is carrying
// (to play a man in the middle injecting forged events).
import http, { type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface CountingProxy {
  base: string
  port: number
  /** requests forwarded (or refused, upstream down), by path */
  counts: Map<string, number>
  total(): number
  setUpstream(port: number): void
  /** writes `text` into every event stream being proxied now; how many */
  inject(text: string): number
  close(): Promise<void>
}

export async function startProxy(upstreamPort: number): Promise<CountingProxy> {
  let upstream = upstreamPort
  const counts = new Map<string, number>()
  const streams = new Set<ServerResponse>()
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    counts.set(path, (counts.get(path) ?? 0) + 1)
    const forward = http.request({ host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      if (String(up.headers['content-type']).startsWith('text/event-stream')) {
        streams.add(res)
        res.once('close', () => streams.delete(res))
      }
      up.pipe(res)
      up.once('error', () => res.destroy())
    })
    forward.once('error', () => {
      if (!res.headersSent) res.writeHead(502).end()
      else res.destroy()
    })
    res.once('close', () => forward.destroy())
    req.pipe(forward)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    counts,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    setUpstream: (p) => (upstream = p),
    inject(text) {
      for (const res of streams) res.write(text)
      return streams.size
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}
