// What operators watch, in Prometheus' format (prom-client): statements sent to the database,
// refresh and login outcomes, the denylist's size, and request latency of the plugin's routes.
// One registry per plugin instance (or the host's, when it passes one), so two instances in a
// process never share a series by accident.
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

export type RefreshOutcome = 'rotate' | 'replay' | 'reuse' | 'revoked' | 'expired' | 'limited' | 'unknown' | 'foreign'
export type LoginOutcome = 'success' | 'invalid_credentials' | 'locked' | 'proof_of_work_required' | 'credentials_changed' | 'mfa_required'

export interface AuthMetrics {
  readonly registry: Registry
  statement(): void
  refresh(outcome: RefreshOutcome): void
  login(outcome: LoginOutcome): void
  /** seconds a request to one of the plugin's routes took */
  request(method: string, route: string, status: number, seconds: number): void
  /** sampled when scraped */
  watchDenylist(size: () => number): void
}

export function createMetrics(registry = new Registry()): AuthMetrics {
  const registers = [registry]
  const statements = new Counter({ name: 'auth_db_statements_total', help: 'SQL statements sent to the database', registers })
  const refreshes = new Counter({ name: 'auth_refresh_total', help: 'Refresh requests by outcome', labelNames: ['outcome'], registers })
  const logins = new Counter({ name: 'auth_login_total', help: 'Login attempts by outcome', labelNames: ['outcome'], registers })
  const latency = new Histogram({
    name: 'auth_http_request_duration_seconds',
    help: "Latency of the auth plugin's routes",
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  })
  let denylistSize = () => 0
  new Gauge({
    name: 'auth_denylist_size',
    help: 'Revoked sessions held in memory for the access-token lifetime',
    registers,
    collect() {
      this.set(denylistSize())
    },
  })
  return {
    registry,
    statement: () => statements.inc(),
    refresh: (outcome) => refreshes.inc({ outcome }),
    login: (outcome) => logins.inc({ outcome }),
    request: (method, route, status, seconds) => latency.observe({ method, route, status: String(status) }, seconds),
    watchDenylist(size) {
      denylistSize = size
    },
  }
}
