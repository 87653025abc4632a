// GET /metrics in Prometheus' text format: the plugin's metrics and the process's. Off unless
// METRICS=true; with METRICS_TOKEN set it answers only `Authorization: Bearer <token>`, since
// what it shows (traffic, failures) is not for the public. Kept out of the OpenAPI document.
import { timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import type {} from '@fastify/swagger'
import type { Registry } from 'prom-client'
import { ApiError } from '../errors.js'

export interface MetricsOptions {
  registry: Registry
  token: string | null
}

const metrics: FastifyPluginAsync<MetricsOptions> = async (fastify, { registry, token }) => {
  const expected = token === null ? null : Buffer.from(`Bearer ${token}`)
  fastify.get('/metrics', { logLevel: 'warn', schema: { hide: true } }, async (request, reply) => {
    if (expected !== null) {
      const sent = Buffer.from(request.headers.authorization ?? '')
      if (sent.length !== expected.length || !timingSafeEqual(sent, expected)) {
        reply.header('www-authenticate', 'Bearer')
        throw new ApiError('unauthorized')
      }
    }
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}

export default metrics
