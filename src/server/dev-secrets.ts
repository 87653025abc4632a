// Outside production a missing key is generated once and kept in the (git-ignored) data
// folder, so tokens survive a restart and nobody has to create keys to try the service.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface DevSecrets {
  kid: string
  ed25519PrivatePem: string
  hs256Secret: string
  refreshSecret: string
  /** encrypts the authenticator apps' secrets (MFA_ENCRYPTION_KEY); added to older files on first read */
  mfaEncryptionKey: string
}

export function loadDevSecrets(dataDir: string): DevSecrets {
  const file = join(dataDir, 'dev-secrets.json')
  if (existsSync(file)) {
    const secrets = JSON.parse(readFileSync(file, 'utf8')) as Partial<DevSecrets>
    if (secrets.mfaEncryptionKey) return secrets as DevSecrets
    // Written by a version before second factors: the new key is added, the others kept.
    const upgraded = { ...secrets, mfaEncryptionKey: randomBytes(32).toString('base64url') } as DevSecrets
    writeFileSync(file, JSON.stringify(upgraded, null, 2), { mode: 0o600 })
    return upgraded
  }
  const { privateKey } = generateKeyPairSync('ed25519')
  const secrets: DevSecrets = {
    kid: `dev-${randomBytes(4).toString('hex')}`,
    ed25519PrivatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    hs256Secret: randomBytes(32).toString('base64url'),
    refreshSecret: randomBytes(32).toString('base64url'),
    mfaEncryptionKey: randomBytes(32).toString('base64url'),
  }
  mkdirSync(dataDir, { recursive: true })
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 })
  return secrets
}
