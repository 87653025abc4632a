// The mail flows in a real browser: the demo page's "forgot password" and "verify email", with
// the mail read from a real SMTP server the app sends to, and its link opened in a tab.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { DEMO_PASSWORD as PASSWORD, browserContexts, launchChromium, registerAndLogin as registerWithForm, startApp, stateOf, statusOf, type RunningApp } from './harness.js'
import { startSmtp, type SmtpSink } from '../helpers/smtp.js'

// window.demo is declared in web-demo.e2e.test.ts.
let smtp: SmtpSink
let server: RunningApp
let browser: Browser
const browsers = browserContexts(() => browser, { width: 1100, height: 1100 })

beforeAll(async () => {
  smtp = await startSmtp()
  server = await startApp({ SMTP_URL: smtp.url })
  browser = await launchChromium()
})
afterEach(async () => {
  expect(await browsers.closeAll()).toEqual([])
})
afterAll(async () => {
  await browser?.close()
  await server?.close()
  await smtp?.close()
})

const newContext = () => browsers.newContext()

async function open(context: BrowserContext, url = `${server.origin}/`): Promise<Page> {
  const page = await context.newPage()
  browsers.watch(page)
  await page.goto(url)
  await page.waitForFunction(() => window.demo !== undefined && document.body.dataset.state !== 'unknown')
  return page
}

const registerAndLogin = (page: Page) => registerWithForm(page, 'mail')

describe('mail flows on the demo page', () => {
  it('forgot password: the mail\'s link opens the reset form, the reset logs out every open tab, the new password works', async () => {
    const context = await newContext()
    const first = await open(context)
    const email = await registerAndLogin(first)
    await smtp.next(email, /confirm your email address/)
    const second = await open(context)
    expect(await stateOf(second)).toBe('authenticated')

    await first.fill('#forgot-form input[name=email]', email)
    await first.click('#forgot')
    await first.waitForFunction(() => document.getElementById('status')!.textContent!.includes('reset link is on its way'))
    const mail = await smtp.next(email, /reset your password/)
    expect(mail.link).toBe(`${server.origin}/reset-password?token=${mail.token}`)

    const resetTab = await open(context, mail.link!)
    // The token has left the address bar at once (the history entry is replaced, not added to).
    expect(resetTab.url()).toBe(`${server.origin}/`)
    await resetTab.waitForSelector('#reset-form:not([hidden])')
    await resetTab.fill('#reset-form input[name=password]', 'a new password from the mail')
    const started = Date.now()
    await resetTab.click('#set-password')

    // Every open tab of the browser: logged out by the reset, without asking the server.
    for (const page of [resetTab, first, second]) await page.waitForSelector('body[data-state="anonymous"]', { timeout: 2000 })
    console.info(`[e2e] reset: 3 tabs logged out after ${Date.now() - started} ms`)
    await resetTab.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('Password changed'), undefined, { timeout: 3000 }).catch(async (err) => {
      throw new Error(`status: ${await statusOf(resetTab)}; ${err}`)
    })
    expect(await statusOf(first)).toMatch(/session has ended|Logged out in another tab/)
    expect((await smtp.next(email, /your password was reset/)).text).toContain('every session')

    // The old password is refused, the new one logs in.
    await first.fill('#login-form input[name=email]', email)
    await first.fill('#login-form input[name=password]', PASSWORD)
    await first.click('#login')
    await first.waitForFunction(() => document.getElementById('status')!.textContent!.includes('invalid_credentials'))
    await first.fill('#login-form input[name=email]', email)
    await first.fill('#login-form input[name=password]', 'a new password from the mail')
    await first.click('#login')
    await first.waitForSelector('body[data-state="authenticated"]')
    // Used once: the same link again is refused.
    const again = await open(context, mail.link!)
    await again.fill('#reset-form input[name=password]', 'yet another password')
    await again.click('#set-password')
    await again.waitForFunction(() => document.getElementById('status')!.textContent!.includes('invalid_email_token'))
  })

  it('verify email: the link verifies the address, and the page shows it', async () => {
    const context = await newContext()
    const page = await open(context)
    const email = await registerAndLogin(page)
    expect(await page.textContent('#me-verified')).toBe('not yet')
    const mail = await smtp.next(email, /confirm your email address/)
    expect(mail.link).toBe(`${server.origin}/verify-email?token=${mail.token}`)
    const linkTab = await open(context, mail.link!)
    await linkTab.waitForFunction(() => document.getElementById('status')!.textContent === 'Email address verified.')
    expect(await linkTab.textContent('#me-verified')).toBe('yes')
    await page.click('#whoami')
    await page.waitForFunction(() => document.getElementById('me-verified')!.textContent === 'yes')
  })

  it('verify email with the code, after asking for the mail again', async () => {
    const context = await newContext()
    const page = await open(context)
    const email = await registerAndLogin(page)
    await smtp.next(email, /confirm your email address/)
    await page.fill('#verify-form input[name=email]', email)
    await page.click('#resend')
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.includes('new link is on its way'))
    const mail = await smtp.next(email, /confirm your email address/)
    await page.fill('#verify-form input[name=email]', email)
    await page.fill('#verify-form input[name=code]', mail.code!)
    await page.click('#verify')
    await page.waitForFunction(() => document.getElementById('me-verified')!.textContent === 'yes')
  })
})
