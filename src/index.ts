// The package's main entry: the Fastify plugin (default export), its option and claim types,
// the migrator for a deploy step, and the error catalogue clients program against.
//
//   import auth from 'fastify-auth-service'
//   await app.register(auth, { prefix: '/auth', database: process.env.DATABASE_URL, keys: {...} })
export { default, default as authPlugin } from './plugin.js'
export type { Authn, AuthPluginRegisterOptions } from './plugin.js'
export { AuthOptionsError, resolveAuthOptions } from './options.js'
export type { AuthPluginOptions, DatabaseOption, SigningKeyOption } from './options.js'
export type { AccessClaims } from './auth/access-claims.js'
export { migrate, AUTH_SCHEMA, MigrationError } from './db/migrate.js'
export type { MigrateResult } from './db/migrate.js'
export { ApiError, ERROR_CATALOGUE } from './errors.js'
export type { ErrorCode, ApiErrorBody } from './errors.js'
export type { Requirements } from './access-tokens.js'
// For the host's own `trustProxy` (README: Client address behind proxies).
export { trustProxyHops } from './http/trust-proxy.js'
// For `mail.templates`: the mails, what each template is given, what it returns.
export { DEFAULT_TEMPLATES, MAIL_KINDS } from './mail/templates.js'
export type { MailContext, MailKind, MailTemplate, RenderedMail } from './mail/templates.js'
