// Sends the product's mails without ever holding up a response: send() renders and queues, and
// returns at once. An in-process queue sends (a few at a time), retries a failure with growing
// delays, and past the last attempt logs the failure with its error: the client's answer never
// depends on it. No log line of the queue holds a link or a code (only the development log
// transport prints them). On close, what is queued gets a short time to go out, then is given
// up on, logged.
import type { MailTransport } from './transport.js'
import type { MailContext, MailKind, MailTemplate } from './templates.js'

export interface MailerLog {
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
  debug(obj: object, msg: string): void
}

export interface MailerOptions {
  transport: MailTransport
  from: string
  productName: string
  templates: Record<MailKind, MailTemplate>
  log: MailerLog
  /** sends tried per mail, the first included */
  attempts: number
  /** the wait before the first retry; each further one waits 4 times longer (with jitter) */
  baseDelayMs: number
  /** sends in flight at once */
  concurrency?: number
  /** past this many waiting, new mails are dropped (logged): a stuck server must not eat memory */
  maxQueued?: number
}

export interface MailRequest {
  kind: MailKind
  to: string
  /** the account it is about, for the log; null when there is none */
  userId: string | null
  ip: string | null
  time: Date
  link?: string | null
  code?: string | null
  expiresInMinutes?: number | null
  oldEmail?: string
  newEmail?: string
}

interface Job {
  req: MailRequest
  attempt: number
}

export class Mailer {
  private readonly waiting: Job[] = []
  private inFlight = 0
  private readonly retrying = new Set<NodeJS.Timeout>()
  private closed = false
  private idleWaiters: (() => void)[] = []

  constructor(private readonly o: MailerOptions) {}

  get transportName(): MailTransport['name'] {
    return this.o.transport.name
  }

  /** Renders and queues; never throws, never waits for the network. */
  send(req: MailRequest): void {
    if (this.closed) {
      this.o.log.error({ mail: describe(req) }, 'mail not sent: the mailer is closed')
      return
    }
    if (this.waiting.length >= (this.o.maxQueued ?? 10_000)) {
      this.o.log.error({ mail: describe(req) }, 'mail not sent: the queue is full')
      return
    }
    this.waiting.push({ req, attempt: 0 })
    // Rendering and connecting wait for the next turn of the event loop: the answer goes first.
    setImmediate(() => this.pump())
  }

  /** Resolves once nothing is queued, in flight or waiting to be retried. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /**
   * Stops taking mail; what is queued or waiting for a retry is sent once more within
   * `timeoutMs`, and whatever is still unsent then is given up on, logged.
   */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true
    // Retries go now rather than after their delay: there is no later.
    for (const t of this.retrying) {
      clearTimeout(t)
      ;(t as unknown as { fire?: () => void }).fire?.()
    }
    let timer: NodeJS.Timeout | undefined
    const gaveUp = await Promise.race([
      this.idle().then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ])
    clearTimeout(timer)
    if (gaveUp) {
      const lost = this.waiting.splice(0)
      this.o.log.error({ mails: lost.map((j) => describe(j.req)), inFlight: this.inFlight }, 'mailer closed with mail unsent')
    }
    this.o.transport.close()
  }

  private isIdle(): boolean {
    return this.waiting.length === 0 && this.inFlight === 0 && this.retrying.size === 0
  }

  private pump(): void {
    while (this.inFlight < (this.o.concurrency ?? 2) && this.waiting.length > 0) {
      const job = this.waiting.shift()!
      this.inFlight++
      void this.attempt(job).finally(() => {
        this.inFlight--
        this.pump()
        if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w()
      })
    }
  }

  private async attempt(job: Job): Promise<void> {
    const { req } = job
    job.attempt++
    try {
      const template = this.o.templates[req.kind]
      const ctx: MailContext = {
        productName: this.o.productName,
        to: req.to,
        ip: req.ip,
        time: req.time,
        link: req.link ?? null,
        code: req.code ?? null,
        expiresInMinutes: req.expiresInMinutes ?? null,
        ...(req.oldEmail !== undefined ? { oldEmail: req.oldEmail } : {}),
        ...(req.newEmail !== undefined ? { newEmail: req.newEmail } : {}),
      }
      const rendered = template(ctx)
      await this.o.transport.send(
        { from: this.o.from, to: req.to, subject: rendered.subject, text: rendered.text, html: rendered.html },
        { kind: req.kind, link: ctx.link, code: ctx.code },
      )
      this.o.log.debug({ mail: describe(req), attempt: job.attempt }, 'mail sent')
    } catch (err) {
      if (job.attempt >= this.o.attempts || this.closed) {
        this.o.log.error({ err: scrub(err), mail: describe(req), attempts: job.attempt }, 'mail could not be sent; given up')
        return
      }
      const delay = this.o.baseDelayMs * 4 ** (job.attempt - 1) * (0.75 + Math.random() * 0.5)
      this.o.log.warn({ err: scrub(err), mail: describe(req), attempt: job.attempt, retryInMs: Math.round(delay) }, 'mail send failed; will retry')
      const fire = () => {
        this.retrying.delete(timer)
        this.waiting.push(job)
        this.pump()
      }
      const timer = setTimeout(fire, delay)
      ;(timer as unknown as { fire: () => void }).fire = fire
      this.retrying.add(timer)
    }
  }
}

// What the log says about a mail: never its address (the user id stands for it), link or code.
function describe(req: MailRequest): { kind: MailKind; userId: string | null } {
  return { kind: req.kind, userId: req.userId }
}

// An SMTP error can carry the server's reply and the command; neither holds the message body,
// but a template error could hold anything the context had, so only name, code and message go.
function scrub(err: unknown): { name?: string; code?: unknown; message: string; responseCode?: unknown } {
  const e = err as { name?: string; code?: unknown; message?: string; responseCode?: unknown }
  return { name: e?.name, code: e?.code, message: String(e?.message ?? err), responseCode: e?.responseCode }
}
