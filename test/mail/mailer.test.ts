// The mail queue on its own: retries with growing delays then a logged failure, a send never
// awaited by its caller, close() giving up on what cannot go, templates replaced per mail, and
// the development log transport as the only thing that prints a link or a code.
import { describe, expect, it } from 'vitest'
import { Mailer, type MailRequest } from '../../src/mail/mailer.js'
import { DEFAULT_TEMPLATES, templatesWith } from '../../src/mail/templates.js'
import { logTransport, type Envelope, type MailTransport } from '../../src/mail/transport.js'

function recordingLog() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = []
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg })
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } }
}

function transport(fail: (n: number) => boolean) {
  const sent: Envelope[] = []
  let n = 0
  const t: MailTransport = {
    name: 'custom',
    async send(envelope) {
      n++
      if (fail(n)) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ECONNREFUSED' })
      sent.push(envelope)
    },
    close() {},
  }
  return { t, sent, tries: () => n }
}

const req = (over: Partial<MailRequest> = {}): MailRequest => ({
  kind: 'reset_password',
  to: 'ada@example.com',
  userId: 'u1',
  ip: '203.0.113.7',
  time: new Date('2030-01-02T03:04:05Z'),
  link: 'https://app.example.com/reset?token=SECRETTOKEN',
  code: '123456',
  expiresInMinutes: 30,
  ...over,
})

const mailer = (t: MailTransport, log: ReturnType<typeof recordingLog>['log'], over = {}) =>
  new Mailer({ transport: t, from: 'no-reply@example.com', productName: 'Acme', templates: templatesWith(), log, attempts: 3, baseDelayMs: 10, ...over })

describe('Mailer', () => {
  it('renders the default template with the product, link, code, IP and time', async () => {
    const { t, sent } = transport(() => false)
    const m = mailer(t, recordingLog().log)
    m.send(req())
    await m.idle()
    expect(sent).toHaveLength(1)
    expect(sent[0]).toMatchObject({ from: 'no-reply@example.com', to: 'ada@example.com', subject: 'Acme: reset your password' })
    for (const part of ['https://app.example.com/reset?token=SECRETTOKEN', '123456', '203.0.113.7', '2030-01-02 03:04:05 UTC', '30 minutes', 'Acme']) {
      expect(sent[0]!.text).toContain(part)
    }
    expect(sent[0]!.html).toContain('href="https://app.example.com/reset?token=SECRETTOKEN"')
  })

  it('escapes what it puts in HTML', () => {
    const html = DEFAULT_TEMPLATES.register_existing({ productName: '<b>Acme</b>', to: 'a"<x>@example.com', ip: null, time: new Date(), link: null, code: null, expiresInMinutes: null }).html
    expect(html).not.toContain('<b>Acme</b>')
    expect(html).toContain('&lt;b&gt;Acme&lt;/b&gt;')
  })

  it('send() returns before the transport answers; a failure is retried, then logged with its error and never its link or code', async () => {
    const { t, tries } = transport(() => true)
    const { lines, log } = recordingLog()
    const m = mailer(t, log)
    m.send(req())
    expect(tries()).toBe(0) // queued only
    await m.idle()
    expect(tries()).toBe(3)
    expect(lines.filter((l) => l.msg === 'mail send failed; will retry').map((l) => l.level)).toEqual(['warn', 'warn'])
    const [failed] = lines.filter((l) => l.msg === 'mail could not be sent; given up')
    expect(failed).toMatchObject({ level: 'error', obj: { attempts: 3, mail: { kind: 'reset_password', userId: 'u1' }, err: { code: 'ECONNREFUSED' } } })
    const all = JSON.stringify(lines)
    expect(all).not.toContain('SECRETTOKEN')
    expect(all).not.toContain('123456')
    expect(all).not.toContain('ada@example.com')
  })

  it('a send that fails once goes out on the retry', async () => {
    const { t, sent, tries } = transport((n) => n === 1)
    const m = mailer(t, recordingLog().log)
    m.send(req())
    await m.idle()
    expect([tries(), sent.length]).toEqual([2, 1])
  })

  it('close() sends what it can at once and gives up on the rest within its time, logged', async () => {
    const { t } = transport(() => true)
    const { lines, log } = recordingLog()
    const m = mailer(t, log, { attempts: 10, baseDelayMs: 60_000 })
    m.send(req())
    await new Promise((r) => setTimeout(r, 20)) // first try failed; the retry waits a minute
    const started = Date.now()
    await m.close(500)
    expect(Date.now() - started).toBeLessThan(500)
    expect(lines.some((l) => l.msg === 'mail could not be sent; given up')).toBe(true)
    m.send(req())
    expect(lines.at(-1)!.msg).toBe('mail not sent: the mailer is closed')
  })

  it('a replaced template is used for its mail only', async () => {
    const { t, sent } = transport(() => false)
    const m = new Mailer({
      transport: t,
      from: 'f@example.com',
      productName: 'Acme',
      templates: templatesWith({ verify_email: (ctx) => ({ subject: `Welcome to ${ctx.productName}`, text: `code ${ctx.code}`, html: `<p>${ctx.code}</p>` }) }),
      log: recordingLog().log,
      attempts: 1,
      baseDelayMs: 10,
    })
    m.send(req({ kind: 'verify_email' }))
    m.send(req({ kind: 'reset_password' }))
    await m.idle()
    expect(sent.map((e) => e.subject).sort()).toEqual(['Acme: reset your password', 'Welcome to Acme'])
  })

  it('the development log transport prints the link and the code', async () => {
    const { lines, log } = recordingLog()
    const m = mailer(logTransport(log), log)
    m.send(req())
    await m.idle()
    const line = lines.find((l) => l.level === 'info')!
    expect(line.msg).toContain('https://app.example.com/reset?token=SECRETTOKEN')
    expect(line.obj).toMatchObject({ mail: { kind: 'reset_password', to: 'ada@example.com', link: 'https://app.example.com/reset?token=SECRETTOKEN', code: '123456' } })
  })
})
