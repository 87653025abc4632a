// A real SMTP server for the tests (smtp-server, on a free port of 127.0.0.1): the app sends to
// it over SMTP exactly as it would to a provider, and each test reads what arrived, parsed as a
// mail client would (mailparser), and takes the link or code from the text.
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'
import { simpleParser } from 'mailparser'

export interface ReceivedMail {
  from: string
  to: string
  subject: string
  text: string
  html: string
  /** the first http(s) link of the text, its `token` parameter, and the 6-digit code */
  link: string | null
  token: string | null
  code: string | null
}

export interface SmtpSink {
  url: string
  port: number
  /** every mail received so far, in order */
  mails: ReceivedMail[]
  /** the next mail to `to` not taken yet (optionally whose subject matches); waits up to `timeoutMs` */
  next(to: string, subject?: RegExp, timeoutMs?: number): Promise<ReceivedMail>
  /** mails to `to`, taken or not */
  to(address: string): ReceivedMail[]
  close(): Promise<void>
}

/** `port`: a given one (a server coming back where it was); default a free one. */
export async function startSmtp(opts: { port?: number } = {}): Promise<SmtpSink> {
  const mails: ReceivedMail[] = []
  const taken = new Set<ReceivedMail>()
  const waiters = new Set<() => void>()
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          const text = parsed.text ?? ''
          const link = /https?:\/\/\S+/.exec(text)?.[0] ?? null
          const to = Array.isArray(parsed.to) ? parsed.to[0] : parsed.to
          mails.push({
            from: parsed.from?.text ?? '',
            to: to?.value[0]?.address ?? '',
            subject: parsed.subject ?? '',
            text,
            html: typeof parsed.html === 'string' ? parsed.html : '',
            link,
            token: link ? new URL(link).searchParams.get('token') : null,
            code: /code: (\d{6})/.exec(text)?.[1] ?? null,
          })
          for (const w of waiters) w()
          callback()
        })
        .catch(callback)
    },
  })
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve))
  const port = (server.server.address() as AddressInfo).port
  const find = (to: string, subject?: RegExp) => mails.find((m) => !taken.has(m) && m.to === to && (!subject || subject.test(m.subject)))
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    mails,
    to: (address) => mails.filter((m) => m.to === address),
    async next(to, subject, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const m = find(to.toLowerCase(), subject)
        if (m) {
          taken.add(m)
          return m
        }
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`no mail to ${to}${subject ? ` matching ${subject}` : ''} within ${timeoutMs} ms; got: ${JSON.stringify(mails.map((x) => [x.to, x.subject]))}`)
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake)
            clearTimeout(timer)
            resolve()
          }
          const timer = setTimeout(wake, left)
          waiters.add(wake)
        })
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
