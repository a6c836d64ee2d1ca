// Helpers for the browser tests: a tlsyncd process serving web/dist, headless
// Chromium through playwright-core, and waiting on editor state.
import { spawn, execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const serverPath = process.env.TLSYNC_SERVER || join(root, 'build/server/tlsyncd')
export const webRoot = process.env.TLSYNC_WEB_ROOT || join(root, 'web/dist')
export const artifacts =
  process.env.TLSYNC_BROWSER_ARTIFACTS || mkdtempSync(join(process.env.TLSYNC_IT_TMP || tmpdir(), 'tlsync-browser-'))
mkdirSync(artifacts, { recursive: true })

// One tlsyncd; restart() stops it (SIGTERM) and starts it again on the same
// port and data directory.
export class Server {
  constructor({ dataDir, tls = null, extraArgs = [] } = {}) {
    this.dataDir = dataDir ?? mkdtempSync(join(process.env.TLSYNC_IT_TMP || tmpdir(), 'tlsync-browser-data-'))
    this.tls = tls
    this.extraArgs = extraArgs
    this.port = 0
    this.log = ''
  }

  get origin() {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`
  }

  async start() {
    const args = ['--host', '127.0.0.1', '--port', String(this.port), '--data-dir', this.dataDir, '--web-root', webRoot]
    if (this.tls) args.push('--tls-cert', this.tls.cert, '--tls-key', this.tls.key)
    // The harness's own TLSYNC_* variables are not tlsyncd settings.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TLSYNC_')))
    this.proc = spawn(serverPath, [...args, ...this.extraArgs], { stdio: ['ignore', 'ignore', 'pipe'], env })
    this.exited = new Promise((res) => this.proc.once('exit', (code, signal) => res({ code, signal })))
    this.port = await new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`tlsyncd did not start:\n${this.log}`)), 20000)
      this.proc.stderr.on('data', (chunk) => {
        this.log += chunk
        const m = /listening on [^ ]+:(\d+)/.exec(this.log)
        if (m) {
          clearTimeout(timer)
          res(Number(m[1]))
        }
      })
      this.proc.once('exit', (code) => rej(new Error(`tlsyncd exited with ${code}:\n${this.log}`)))
    })
    return this
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return
    this.proc.kill('SIGTERM')
    const { code, signal } = await this.exited
    if (code !== 0) throw new Error(`tlsyncd exited with ${code ?? signal}:\n${this.log.slice(-4000)}`)
  }

  async restart() {
    await this.stop()
    await this.start()
  }
}

export function makeCertificate(dir) {
  const key = join(dir, 'key.pem')
  const cert = join(dir, 'cert.pem')
  if (!existsSync(cert)) {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-days', '1', '-keyout', key, '-out', cert,
    ], { stdio: 'ignore' })
  }
  return { key, cert }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.TLSYNC_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  })
}

// A page with the console and page errors kept (printed when a test fails).
export async function newPage(browser, { ignoreHTTPSErrors = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 }, ignoreHTTPSErrors })
  const page = await context.newPage()
  page.messages = []
  page.on('console', (m) => page.messages.push(`[${m.type()}] ${m.text()}`))
  page.on('pageerror', (e) => page.messages.push(`[pageerror] ${e.message}`))
  return page
}

// Waits for the board to be synced: the editor exists and the store holds the
// document (a page record).
export async function waitForBoard(page) {
  await page.waitForFunction(
    () => window.editor && window.editor.getCurrentPageId() && document.querySelector('.tl-canvas'),
    null,
    { timeout: 30000 },
  )
}

// Polls fn() in the page until it returns a truthy value.
export async function until(page, fn, arg, timeout = 15000) {
  const handle = await page.waitForFunction(fn, arg, { timeout, polling: 100 })
  return handle.jsonValue()
}

export function shapesOf(page) {
  return page.evaluate(() =>
    window.editor.getCurrentPageShapes().map((s) => ({ id: s.id, type: s.type, props: s.props })),
  )
}

let shot = 0
export async function screenshot(page, name) {
  const file = join(artifacts, `${String(++shot).padStart(2, '0')}-${name}.png`)
  await page.screenshot({ path: file })
  return file
}

// Draws a rectangle through the UI: the `r` shortcut, then a drag on the canvas.
export async function drawRectangle(page, x, y, w = 120, h = 80) {
  await page.mouse.click(60, 300) // focus the canvas, away from the toolbar and shapes
  await page.keyboard.press('Escape')
  await page.keyboard.press('r')
  await page.mouse.move(x, y)
  await page.mouse.down()
  await page.mouse.move(x + w / 2, y + h / 2, { steps: 5 })
  await page.mouse.move(x + w, y + h, { steps: 5 })
  await page.mouse.up()
  await page.keyboard.press('Escape')
}
