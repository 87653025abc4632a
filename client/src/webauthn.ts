// Passkeys in the browser: the server's WebAuthn options (JSON, base64url) to what
// navigator.credentials wants (ArrayBuffers), and the credential back to JSON for the server.
// PublicKeyCredential's own parse…FromJSON()/toJSON() are used where the browser has them.
import { AuthError } from './errors.js'

type Json = Record<string, unknown>

function fromBase64url(s: string): ArrayBuffer {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4)
  const bin = atob(b64)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out.buffer
}

function toBase64url(buf: ArrayBuffer | ArrayBufferView): string {
  const bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
  let bin = ''
  for (const b of bytes) bin += String.fromCharCode(b)
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

interface PublicKeyCredentialStatics {
  parseCreationOptionsFromJSON?(o: Json): PublicKeyCredentialCreationOptions
  parseRequestOptionsFromJSON?(o: Json): PublicKeyCredentialRequestOptions
  isConditionalMediationAvailable?(): Promise<boolean>
}

function statics(): PublicKeyCredentialStatics | null {
  const g = globalThis as unknown as { PublicKeyCredential?: PublicKeyCredentialStatics; navigator?: { credentials?: unknown } }
  return g.PublicKeyCredential && g.navigator?.credentials ? g.PublicKeyCredential : null
}

function requireWebAuthn(): PublicKeyCredentialStatics {
  const s = statics()
  if (!s) throw new AuthError('rejected', 'passkeys_unsupported', 'this environment has no WebAuthn (navigator.credentials): passkeys need a browser on https or localhost')
  return s
}

/** Whether the browser can offer passkeys in the login form's autofill (conditional mediation). */
export async function conditionalMediationAvailable(): Promise<boolean> {
  const s = statics()
  try {
    return s?.isConditionalMediationAvailable ? await s.isConditionalMediationAvailable() : false
  } catch {
    return false
  }
}

const descriptors = (list: unknown) =>
  Array.isArray(list) ? list.map((d: Json) => ({ ...d, id: fromBase64url(String(d.id)) }) as PublicKeyCredentialDescriptor) : undefined

function creationOptions(o: Json): PublicKeyCredentialCreationOptions {
  const s = requireWebAuthn()
  if (s.parseCreationOptionsFromJSON) return s.parseCreationOptionsFromJSON(o)
  const user = o.user as Json
  return {
    ...(o as object),
    challenge: fromBase64url(String(o.challenge)),
    user: { ...(user as object), id: fromBase64url(String(user.id)) },
    excludeCredentials: descriptors(o.excludeCredentials),
  } as PublicKeyCredentialCreationOptions
}

function requestOptions(o: Json): PublicKeyCredentialRequestOptions {
  const s = requireWebAuthn()
  if (s.parseRequestOptionsFromJSON) return s.parseRequestOptionsFromJSON(o)
  return { ...(o as object), challenge: fromBase64url(String(o.challenge)), allowCredentials: descriptors(o.allowCredentials) } as PublicKeyCredentialRequestOptions
}

function credentialJson(c: PublicKeyCredential): Json {
  const withJson = c as PublicKeyCredential & { toJSON?: () => Json }
  if (typeof withJson.toJSON === 'function') return withJson.toJSON()
  const r = c.response as AuthenticatorResponse & Partial<AuthenticatorAttestationResponse & AuthenticatorAssertionResponse>
  const response: Json = { clientDataJSON: toBase64url(r.clientDataJSON) }
  if (r.attestationObject) {
    response.attestationObject = toBase64url(r.attestationObject)
    if (typeof r.getTransports === 'function') response.transports = r.getTransports()
  }
  if (r.authenticatorData) response.authenticatorData = toBase64url(r.authenticatorData)
  if (r.signature) response.signature = toBase64url(r.signature)
  if (r.userHandle) response.userHandle = toBase64url(r.userHandle)
  return {
    id: c.id,
    rawId: toBase64url(c.rawId),
    type: c.type,
    response,
    clientExtensionResults: c.getClientExtensionResults(),
    ...(c.authenticatorAttachment ? { authenticatorAttachment: c.authenticatorAttachment } : {}),
  }
}

// The user closed the prompt, it timed out, or the page aborted it: nothing to report as broken.
function ceremonyError(err: unknown): AuthError {
  if (err instanceof AuthError) return err
  const name = (err as { name?: string } | null)?.name
  if (name === 'NotAllowedError' || name === 'AbortError') return new AuthError('rejected', 'passkey_cancelled', 'the passkey prompt was dismissed, timed out or aborted')
  return new AuthError('rejected', 'passkeys_unsupported', `the browser refused the passkey request: ${(err as Error)?.message ?? String(err)}`)
}

/** navigator.credentials.create() for the server's creation options; the credential as JSON. */
export async function createPasskey(options: Json, signal?: AbortSignal): Promise<Json> {
  const publicKey = creationOptions(options)
  try {
    const c = (await navigator.credentials.create({ publicKey, ...(signal ? { signal } : {}) })) as PublicKeyCredential | null
    if (!c) throw new AuthError('rejected', 'passkey_cancelled', 'no passkey was created')
    return credentialJson(c)
  } catch (err) {
    throw ceremonyError(err)
  }
}

/** navigator.credentials.get() for the server's request options (`conditional`: in the autofill); the assertion as JSON. */
export async function getPasskey(options: Json, opts: { conditional?: boolean; signal?: AbortSignal } = {}): Promise<Json> {
  const publicKey = requestOptions(options)
  try {
    const c = (await navigator.credentials.get({
      publicKey,
      ...(opts.conditional ? { mediation: 'conditional' as CredentialMediationRequirement } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    })) as PublicKeyCredential | null
    if (!c) throw new AuthError('rejected', 'passkey_cancelled', 'no passkey was chosen')
    return credentialJson(c)
  } catch (err) {
    throw ceremonyError(err)
  }
}
