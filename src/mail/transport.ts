// Where mail goes: an SMTP server (nodemailer, from an smtp:// or smtps:// URL), a nodemailer
// transport the host built (anything with sendMail), or, in development only, the log.
import { createRequire } from 'node:module'
import type Nodemailer from 'nodemailer'
import type { MailKind } from './templates.js'

// Loaded only by an SMTP transport, at its first mail: a service that sends through its own
// transport, or logs mail in development, does not carry it (about 4 MB resident), and no
// instance spends the 85 ms it takes to load while starting.
const loadNodemailer = () => createRequire(import.meta.url)('nodemailer') as typeof Nodemailer

export interface Envelope {
  from: string
  to: string
  subject: string
  text: string
  html: string
}

/** What the log transport prints, beside the envelope; nothing else ever sees link or code. */
export interface MailSecrets {
  kind: MailKind
  link: string | null
  code: string | null
}

export interface MailTransport {
  readonly name: 'log' | 'smtp' | 'custom'
  send(envelope: Envelope, secrets: MailSecrets): Promise<void>
  close(): void
}

/** What a host may pass: anything nodemailer's createTransport() returns will do. */
export interface SendMailLike {
  sendMail(message: Envelope): Promise<unknown>
  close?(): void
}

export interface TransportLog {
  info(obj: object, msg: string): void
}

export function smtpTransport(url: string, timeoutMs: number): MailTransport {
  // Without these, a server that accepts the connection and then says nothing holds a send for
  // nodemailer's defaults (2 min to connect, 10 min idle); the queue retries instead.
  // A pool of two connections, as many as the queue sends at once: a burst of mail does not
  // pay a TCP and TLS handshake per message.
  let transporter: ReturnType<typeof Nodemailer.createTransport> | null = null
  const open = () =>
    (transporter ??= loadNodemailer().createTransport({
      url,
      pool: true,
      maxConnections: 2,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    }))
  return {
    name: 'smtp',
    async send(envelope) {
      await open().sendMail(envelope)
    },
    close: () => transporter?.close(),
  }
}

export function customTransport(t: SendMailLike): MailTransport {
  return {
    name: 'custom',
    async send(envelope) {
      await t.sendMail(envelope)
    },
    // The host's transport is the host's to close.
    close() {},
  }
}

/**
 * Development only (refused in production): each mail is a log line with its link and code,
 * so a developer can follow it with nothing else running. The one place either is logged.
 */
export function logTransport(log: TransportLog): MailTransport {
  return {
    name: 'log',
    async send(envelope, secrets) {
      log.info(
        { mail: { kind: secrets.kind, to: envelope.to, subject: envelope.subject, link: secrets.link, code: secrets.code } },
        `mail (development log transport, not sent): ${envelope.subject}${secrets.link ? ` ${secrets.link}` : ''}${secrets.code ? ` code ${secrets.code}` : ''}`,
      )
    },
    close() {},
  }
}

export function isSmtpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false
  try {
    const u = new URL(value)
    return (u.protocol === 'smtp:' || u.protocol === 'smtps:') && u.hostname !== ''
  } catch {
    return false
  }
}

export function isSendMailLike(value: unknown): value is SendMailLike {
  return typeof value === 'object' && value !== null && typeof (value as { sendMail?: unknown }).sendMail === 'function'
}
