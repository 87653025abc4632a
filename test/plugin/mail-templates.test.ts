// A host app replaces one of the product's mails through the plugin's `mail.templates` option:
// the mail that arrives at a real SMTP server is the host's, carrying the link and code the
// flow needs, and every other mail keeps the default template.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, expect, it } from 'vitest'
import auth, { DEFAULT_TEMPLATES, type AuthPluginOptions, type MailContext } from '../../src/index.js'
import { createTestDatabase } from '../helpers/database.js'
import { startSmtp, type SmtpSink } from '../helpers/smtp.js'

let db: Awaited<ReturnType<typeof createTestDatabase>>
let smtp: SmtpSink
let app: FastifyInstance
const seen: MailContext[] = []

beforeAll(async () => {
  db = await createTestDatabase()
  smtp = await startSmtp()
  app = Fastify()
  const options: AuthPluginOptions = {
    production: false,
    database: db.url,
    keys: { signing: { kid: 'templates', privateKey: generateKeyPairSync('ed25519').privateKey }, refreshTokenSecret: randomBytes(32) },
    passwords: { memoryKiB: 1024, timeCost: 1 },
    mail: {
      transport: smtp.url,
      from: 'Notes <no-reply@notes.example.com>',
      productName: 'Notes',
      templates: {
        reset_password: (ctx) => {
          seen.push(ctx)
          return {
            subject: `${ctx.productName}: your reset code`,
            text: `Hello from the host. Code ${ctx.code}, or open ${ctx.link} within ${ctx.expiresInMinutes} minutes.`,
            html: `<p>Hello from the host. Code <b>${ctx.code}</b>.</p>`,
          }
        },
      },
    },
    links: { resetPassword: 'http://notes.example.com/reset' },
  }
  await app.register(auth, { prefix: '/auth', ...options })
  await app.ready()
})
afterAll(async () => {
  await app?.close()
  await smtp?.close()
  await db?.drop()
})

it("the host's reset_password template is the mail sent, and its code resets the password", async () => {
  const email = `tpl-${randomBytes(4).toString('hex')}@example.com`
  const post = (url: string, payload: object) => app.inject({ method: 'POST', url, payload, remoteAddress: '203.0.113.7' })
  expect((await post('/auth/register', { email, password: 'correct horse battery' })).statusCode).toBe(202)
  // Not replaced: the verification mail is the product's own.
  const verify = await smtp.next(email, /confirm your email address/)
  expect(verify.subject).toBe(DEFAULT_TEMPLATES.verify_email({ ...seenContext(email), code: '000000', link: null, expiresInMinutes: 1 }).subject)

  expect((await post('/auth/password/forgot', { email })).statusCode).toBe(202)
  const mail = await smtp.next(email, /your reset code/)
  expect(mail.subject).toBe('Notes: your reset code')
  expect(mail.from).toContain('no-reply@notes.example.com')
  expect(mail.text).toMatch(/^Hello from the host\. Code \d{6}, or open http:\/\/notes\.example\.com\/reset\?token=[A-Za-z0-9_-]{43} within 30 minutes\./)
  expect(mail.html).toContain('<b>')
  // What the template was given: the request's address and time, for the host to show.
  expect(seen.at(-1)).toMatchObject({ to: email, ip: '203.0.113.7', productName: 'Notes' })
  expect(seen.at(-1)!.time).toBeInstanceOf(Date)

  const code = /Code (\d{6})/.exec(mail.text)![1]!
  expect((await post('/auth/password/reset', { email, code, new_password: 'a brand new password' })).statusCode).toBe(204)
  expect((await post('/auth/login', { email, password: 'a brand new password' })).statusCode).toBe(200)
})

function seenContext(to: string): MailContext {
  return { productName: 'Notes', to, ip: null, time: new Date(), link: null, code: null, expiresInMinutes: null }
}
