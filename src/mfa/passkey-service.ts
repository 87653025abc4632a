// Passkeys (WebAuthn, through @simplewebauthn/server): registration while logged in, login with a
// passkey alone (discoverable credentials: the browser offers the account), a passkey as the
// second factor of a password login or a re-authentication, listing and removal.
//
// Every ceremony's challenge is a row of mfa_challenges, keyed by the challenge itself, spent by
// the statement that completes the ceremony: a challenge issued on one instance completes on
// another, and only once. The origin and RP ID are the configured ones (webauthn option); a
// response made on any other origin fails, whatever else is right about it. The signature counter
// only moves forward (PasskeyStore.recordUse), and a credential whose backup eligibility changes
// is refused: the flag is fixed for a credential's life (WebAuthn Level 3 §6.1.3).
import { ApiError } from '../errors.js'
import type { AuthSettings } from '../options.js'
import type { Tx } from '../db/client.js'
import type { UserStore } from '../users/user-store.js'
import type { Mailer } from '../mail/mailer.js'
import type { SessionEvents } from '../tokens/session-service.js'
import type { SessionMeta } from '../tokens/token-store.js'
import type { ChallengeStore } from './challenge-store.js'
import { PasskeyAlreadyRegistered, type Passkey, type PasskeyStore } from './passkey-store.js'
import type { Factor } from './methods.js'

type WebAuthnLib = typeof import('@simplewebauthn/server')
// Loaded at the first passkey ceremony: its certificate and CBOR parsers are memory that a
// service whose users never use a passkey has no use for.
let lib: Promise<WebAuthnLib> | null = null
const webauthn = () => (lib ??= import('@simplewebauthn/server'))

/** What the browser's PublicKeyCredential.toJSON() gives for navigator.credentials.create(). */
export interface RegistrationCredential {
  id: string
  rawId: string
  type: 'public-key'
  response: { clientDataJSON: string; attestationObject: string; transports?: string[]; [k: string]: unknown }
  clientExtensionResults: Record<string, unknown>
  authenticatorAttachment?: string
}

/** What the browser's PublicKeyCredential.toJSON() gives for navigator.credentials.get(). */
export interface AssertionCredential {
  id: string
  rawId: string
  type: 'public-key'
  response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle?: string }
  clientExtensionResults: Record<string, unknown>
  authenticatorAttachment?: string
}

export interface PasskeyServiceDeps {
  settings: Pick<AuthSettings, 'webauthn' | 'mfa' | 'mail'>
  passkeys: PasskeyStore
  challenges: ChallengeStore
  users: UserStore
  mailer: Mailer
  events: SessionEvents
  now: () => number
}

/** A verified assertion, not yet recorded: the caller records it in the transaction it completes. */
export interface VerifiedAssertion {
  passkey: Passkey
  factor: Extract<Factor, { kind: 'passkey' }>
  newCounter: number
  backedUp: boolean
}

const CEREMONY_TIMEOUT_MS = 120_000
const TRANSPORTS = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'])

export class PasskeyService {
  constructor(private readonly d: PasskeyServiceDeps) {}

  /** Passkeys can be used: the plugin has an RP ID and origins (option webauthn). */
  get enabled(): boolean {
    return this.d.settings.webauthn !== null
  }

  list(userId: string): Promise<Passkey[]> {
    return this.d.passkeys.listOf(userId)
  }

  /** Options for navigator.credentials.create(): a discoverable credential for this account. */
  async registrationOptions(userId: string) {
    const rp = this.rp()
    // The name the authenticator shows: the account's address, from its row (tokens carry none by default).
    const user = await this.d.users.findById(userId)
    if (!user) throw new ApiError('unauthorized')
    const existing = await this.d.passkeys.listOf(user.id)
    const options = await (await webauthn()).generateRegistrationOptions({
      rpName: rp.rpName,
      rpID: rp.rpId,
      userName: user.email,
      userDisplayName: user.email,
      // The user handle the authenticator keeps: the account's id, nothing personal.
      userID: uuidBytes(user.id),
      attestationType: 'none',
      timeout: CEREMONY_TIMEOUT_MS,
      excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: knownTransports(p.transports) })),
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'preferred' },
    })
    await this.d.challenges.issueCeremony({ webauthnChallenge: options.challenge, purpose: 'passkey_register', userId: user.id, ttlSec: this.ttlSec() })
    return options
  }

  /** Verifies and stores a new passkey of `userId`, made for a challenge this account was given. */
  async register(userId: string, credential: RegistrationCredential, name: string | undefined, meta: SessionMeta): Promise<Passkey> {
    const rp = this.rp()
    const challenge = challengeOf(credential.response.clientDataJSON)
    const pending = challenge === null ? null : await this.d.challenges.find(challenge, 'passkey_register')
    if (!pending || pending.userId !== userId) throw new ApiError('invalid_passkey')
    let info: Awaited<ReturnType<WebAuthnLib['verifyRegistrationResponse']>>['registrationInfo']
    try {
      const verified = await (await webauthn()).verifyRegistrationResponse({
        response: credential as never,
        expectedChallenge: challenge!,
        expectedOrigin: rp.origins,
        expectedRPID: rp.rpId,
        requireUserVerification: false,
      })
      info = verified.verified ? verified.registrationInfo : undefined
    } catch {
      info = undefined
    }
    if (!info) throw new ApiError('invalid_passkey')
    if (!(await this.d.challenges.spend(challenge!, 'passkey_register'))) throw new ApiError('invalid_passkey')
    let passkey: Passkey
    try {
      passkey = await this.d.passkeys.add({
        userId,
        credentialId: info.credential.id,
        publicKey: info.credential.publicKey,
        counter: info.credential.counter,
        transports: knownTransports(credential.response.transports ?? info.credential.transports ?? []),
        backupEligible: info.credentialDeviceType === 'multiDevice',
        backedUp: info.credentialBackedUp,
        userVerified: info.userVerified,
        name: name?.trim() || defaultName(this.d.now()),
      })
    } catch (err) {
      if (err instanceof PasskeyAlreadyRegistered) throw new ApiError('invalid_passkey', 'This passkey is registered already.')
      throw err
    }
    await this.d.events.recordNow({ type: 'passkey_added', userId, ...meta })
    await this.notify(userId, 'passkey_added', meta)
    return passkey
  }

  /** Options for a login with a passkey alone: any discoverable passkey of this RP, user verification required. */
  async loginOptions() {
    const rp = this.rp()
    const options = await (await webauthn()).generateAuthenticationOptions({ rpID: rp.rpId, userVerification: 'required', timeout: CEREMONY_TIMEOUT_MS })
    await this.d.challenges.issueCeremony({ webauthnChallenge: options.challenge, purpose: 'passkey_login', userId: null, ttlSec: this.ttlSec() })
    return options
  }

  /**
   * Options for a passkey answering a password login's challenge (or null when it is not live):
   * the account's own passkeys, with the WebAuthn challenge kept on the login's row.
   */
  async secondFactorOptions(loginChallenge: string, userId: string) {
    const rp = this.rp()
    const mine = await this.d.passkeys.listOf(userId)
    if (mine.length === 0) throw new ApiError('mfa_not_enabled', 'This account has no passkey.')
    const options = await (await webauthn()).generateAuthenticationOptions({
      rpID: rp.rpId,
      userVerification: 'preferred',
      timeout: CEREMONY_TIMEOUT_MS,
      allowCredentials: mine.map((p) => ({ id: p.credentialId, transports: knownTransports(p.transports) })),
    })
    const owner = await this.d.challenges.attachWebauthn(loginChallenge, options.challenge)
    if (owner !== userId) throw new ApiError('invalid_mfa_challenge')
    return options
  }

  /**
   * A passkey-alone login's assertion, verified against a live passkey_login challenge: the
   * passkey and what it proves. The challenge is spent by `complete`, in the caller's transaction.
   */
  async verifyLogin(credential: AssertionCredential): Promise<VerifiedAssertion & { challenge: string }> {
    const challenge = challengeOf(credential.response.clientDataJSON)
    if (challenge === null || !(await this.d.challenges.find(challenge, 'passkey_login'))) throw new ApiError('invalid_passkey')
    const verified = await this.verify(credential, challenge, { userId: null, requireUserVerification: true })
    return { ...verified, challenge }
  }

  /** An assertion by one of `userId`'s passkeys for `expectedChallenge`. */
  verifyFor(userId: string, credential: AssertionCredential, expectedChallenge: string): Promise<VerifiedAssertion> {
    return this.verify(credential, expectedChallenge, { userId, requireUserVerification: false })
  }

  /** Records a verified use in `tx`; the ceremony's challenge (passkey_login) is spent with it. */
  async complete(tx: Tx, v: VerifiedAssertion, spend: { challenge: string } | null): Promise<boolean> {
    if (spend && !(await this.d.challenges.spend(spend.challenge, 'passkey_login', tx))) return false
    return this.d.passkeys.recordUse(tx, v.passkey.id, v.newCounter, v.backedUp)
  }

  /** Removes a passkey of the caller's; the mail and the audit trail say so. */
  async remove(tx: Tx, userId: string, id: string): Promise<Passkey | null> {
    return this.d.passkeys.remove(tx, userId, id)
  }

  async notify(userId: string, kind: 'passkey_added' | 'passkey_removed', meta: SessionMeta): Promise<void> {
    const user = await this.d.users.findById(userId)
    if (user) this.d.mailer.send({ kind, to: user.email, userId, ip: meta.ip, time: new Date(this.d.now()) })
  }

  private async verify(credential: AssertionCredential, expectedChallenge: string, opts: { userId: string | null; requireUserVerification: boolean }): Promise<VerifiedAssertion> {
    const rp = this.rp()
    const passkey = await this.d.passkeys.findByCredentialId(credential.id)
    if (!passkey || (opts.userId !== null && passkey.userId !== opts.userId)) throw new ApiError('invalid_passkey')
    // A discoverable credential names its account; it must be the one the passkey was made for.
    const handle = credential.response.userHandle
    if (handle !== undefined && handle !== Buffer.from(uuidBytes(passkey.userId)).toString('base64url')) throw new ApiError('invalid_passkey')
    let info: Awaited<ReturnType<WebAuthnLib['verifyAuthenticationResponse']>>['authenticationInfo'] | undefined
    try {
      const verified = await (await webauthn()).verifyAuthenticationResponse({
        response: credential as never,
        expectedChallenge,
        expectedOrigin: rp.origins,
        expectedRPID: rp.rpId,
        credential: { id: passkey.credentialId, publicKey: passkey.publicKey as Uint8Array<ArrayBuffer>, counter: passkey.counter, transports: knownTransports(passkey.transports) },
        requireUserVerification: opts.requireUserVerification,
      })
      info = verified.verified ? verified.authenticationInfo : undefined
    } catch {
      // another origin or RP, another challenge, a bad signature, a counter that went back
      info = undefined
    }
    if (!info) throw new ApiError('invalid_passkey')
    if ((info.credentialDeviceType === 'multiDevice') !== passkey.backupEligible) throw new ApiError('invalid_passkey')
    return {
      passkey,
      factor: { kind: 'passkey', backupEligible: passkey.backupEligible, userVerified: info.userVerified },
      newCounter: info.newCounter,
      backedUp: info.credentialBackedUp,
    }
  }

  private rp(): NonNullable<AuthSettings['webauthn']> {
    const rp = this.d.settings.webauthn
    if (!rp) throw new ApiError('not_found', 'Passkeys are not configured on this server.')
    return rp
  }

  private ttlSec(): number {
    return Math.max(this.d.settings.mfa.challengeTtlSec, CEREMONY_TIMEOUT_MS / 1000)
  }
}

/** The challenge a client signed, read from its clientDataJSON; null when unreadable. */
export function challengeOf(clientDataJSON: string): string | null {
  try {
    const data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown }
    return typeof data.challenge === 'string' && /^[A-Za-z0-9_-]{16,128}$/.test(data.challenge) ? data.challenge : null
  } catch {
    return null
  }
}

function uuidBytes(id: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(id.replace(/-/g, ''), 'hex'))
}

function knownTransports(list: readonly string[]): ('ble' | 'cable' | 'hybrid' | 'internal' | 'nfc' | 'smart-card' | 'usb')[] {
  return list.filter((t) => TRANSPORTS.has(t)) as never
}

function defaultName(nowMs: number): string {
  return `Passkey added ${new Date(nowMs).toISOString().slice(0, 10)}`
}

