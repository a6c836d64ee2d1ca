// The web app in headless Chromium against a real tlsyncd: two people on one
// board, reloads, an uploaded image, a view-only link, a server restart, TLS.
// Pages are driven through the UI (keyboard shortcuts, mouse, the file
// chooser) and checked through the other page's editor (window.editor).
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { deflateSync, crc32 } from 'node:zlib'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  Server, artifacts, drawRectangle, launchBrowser, makeCertificate, newPage, screenshot, shapesOf, until,
  waitForBoard,
} from './lib.mjs'

// A w×h PNG of one colour, made here so the test needs no fixture file.
function png(w, h, [r, g, b]) {
  const chunk = (type, data) => {
    const head = Buffer.alloc(8)
    head.writeUInt32BE(data.length, 0)
    head.write(type, 4, 'latin1')
    const crc = Buffer.alloc(4)
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0)
    return Buffer.concat([head, data, crc])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0)
  ihdr.writeUInt32BE(h, 4)
  ihdr.set([8, 2, 0, 0, 0], 8) // 8-bit RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => [r, g, b]).flat())])
  const pixels = deflateSync(Buffer.concat(Array.from({ length: h }, () => row)))
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', pixels), chunk('IEND', Buffer.alloc(0))])
}

const pages = []
let browser

async function open(url, opts) {
  const page = await newPage(browser, opts)
  pages.push(page)
  await page.goto(url)
  return page
}

function dumpOnFailure(t) {
  if (t.passed !== false) return
  for (const [i, p] of pages.entries()) {
    if (p.isClosed()) continue
    console.error(`--- page ${i} (${p.url()}) console:\n${p.messages.slice(-30).join('\n')}`)
  }
}

before(async () => {
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  console.log(`browser test screenshots: ${artifacts}`)
})

describe('a board shared by two pages', () => {
  const server = new Server()
  let a, b, boardUrl

  before(async () => {
    await server.start()
  })
  after(async () => {
    await server.stop()
  })
  afterEach((t) => dumpOnFailure(t))

  it('the home page creates a board, and its share link opens it elsewhere', async () => {
    a = await open(`${server.origin}/`)
    await a.getByTestId('new-board').click()
    await a.waitForURL(/\/r\/[A-Za-z0-9_-]{16}$/)
    await waitForBoard(a)
    boardUrl = await a.getByTestId('copy-edit-link').getAttribute('data-link')
    assert.equal(boardUrl, a.url())
    b = await open(boardUrl)
    await waitForBoard(b)
    await screenshot(a, 'a-empty-board')
  })

  it('a rectangle drawn in one page appears in the other', async () => {
    await drawRectangle(a, 300, 250)
    const mine = await shapesOf(a)
    assert.equal(mine.length, 1)
    assert.equal(mine[0].type, 'geo')
    const id = mine[0].id
    await until(b, (id) => window.editor.getShape(id)?.type === 'geo', id)
    await screenshot(b, 'b-sees-rectangle')
  })

  it("the other page's cursor is visible", async () => {
    await a.mouse.move(600, 400, { steps: 5 })
    await a.mouse.move(620, 420, { steps: 5 })
    await until(b, () => window.editor.getCollaboratorsOnCurrentPage().some((c) => c.cursor))
    await b.locator('.tl-collaborator__cursor').first().waitFor({ state: 'visible', timeout: 15000 })
    await screenshot(b, 'b-sees-a-cursor')
  })

  it('a reload keeps the drawing', async () => {
    const before = (await shapesOf(a)).map((s) => s.id)
    await a.reload()
    await waitForBoard(a)
    await until(a, (ids) => ids.every((id) => window.editor.getShape(id)), before)
    assert.deepEqual((await shapesOf(a)).map((s) => s.id).sort(), before.sort())
  })

  it('an uploaded image is stored on the server and survives a reload', async () => {
    const chooser = a.waitForEvent('filechooser')
    await a.getByTestId('tools.asset').click() // the toolbar's "Media" button
    await (await chooser).setFiles({ name: 'red.png', mimeType: 'image/png', buffer: png(80, 60, [220, 30, 30]) })
    const image = await until(a, () => {
      const s = window.editor.getCurrentPageShapes().find((s) => s.type === 'image')
      const asset = s && window.editor.getAsset(s.props.assetId)
      return asset?.props.src?.startsWith('/uploads/') ? { id: s.id, src: asset.props.src } : null
    })
    const res = await fetch(server.origin + image.src)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'image/png')
    assert.match(res.headers.get('cache-control'), /immutable/)
    assert.equal(Buffer.from(await res.arrayBuffer()).subarray(1, 4).toString(), 'PNG')

    await until(b, (id) => window.editor.getShape(id), image.id)
    await b.reload()
    await waitForBoard(b)
    // The picture itself, not just the shape: an <img> that loaded.
    await until(b, () => [...document.querySelectorAll('img.tl-image')].some((i) => i.complete && i.naturalWidth === 80))
    await screenshot(b, 'b-image-after-reload')
  })

  it('a view-only page sees the board but cannot change it', async () => {
    const viewUrl = await a.getByTestId('copy-view-link').getAttribute('data-link')
    assert.equal(viewUrl, `${boardUrl}?view=readonly`)
    const v = await open(viewUrl)
    await waitForBoard(v)
    await v.getByTestId('readonly-badge').waitFor()
    const count = (await shapesOf(a)).length
    await until(v, (n) => window.editor.getCurrentPageShapes().length === n, count)
    await until(v, () => window.editor.getIsReadonly())

    await drawRectangle(v, 200, 450) // through the UI: the editor refuses
    assert.equal((await shapesOf(v)).length, count)
    // A client that ignores the flag: the server discards its edit.
    await v.evaluate(() => {
      window.editor.updateInstanceState({ isReadonly: false })
      window.editor.createShape({ type: 'geo', x: 50, y: 50, props: { w: 40, h: 40 } })
    })
    // A and B get every later change in order: one they see proves the
    // view-only edit would have arrived by then.
    await drawRectangle(b, 650, 150)
    await until(a, (n) => window.editor.getCurrentPageShapes().length === n + 1, count)
    assert.equal((await shapesOf(a)).length, count + 1)
    await until(v, (n) => window.editor.getCurrentPageShapes().length === n + 1, count)
    await screenshot(v, 'viewer-after-refused-edit')
    await v.close()
  })

  it('a server restart mid-session: both pages reconnect and keep working', async () => {
    const count = (await shapesOf(a)).length
    await server.restart()
    // The client retries within 0.5-2 s; drawing while offline is fine too,
    // the change is pushed when the socket is back.
    await drawRectangle(a, 300, 500)
    await until(b, (n) => window.editor.getCurrentPageShapes().length === n + 1, count, 30000)
    await drawRectangle(b, 700, 500)
    await until(a, (n) => window.editor.getCurrentPageShapes().length === n + 2, count, 30000)
    await screenshot(a, 'a-after-restart')
    await a.reload()
    await waitForBoard(a)
    await until(a, (n) => window.editor.getCurrentPageShapes().length === n + 2, count)
  })
})

describe('over TLS', () => {
  const dir = mkdtempSync(join(process.env.TLSYNC_IT_TMP || tmpdir(), 'tlsync-browser-tls-'))
  const server = new Server({ tls: makeCertificate(dir) })

  before(async () => {
    await server.start()
  })
  after(async () => {
    await server.stop()
  })
  afterEach((t) => dumpOnFailure(t))

  it('the app uses wss:// on an https page and syncs', async () => {
    const url = `${server.origin}/r/tls-room-1`
    const a = await open(url, { ignoreHTTPSErrors: true })
    const sockets = []
    a.on('websocket', (ws) => sockets.push(ws.url()))
    await waitForBoard(a)
    const b = await open(url, { ignoreHTTPSErrors: true })
    await waitForBoard(b)
    await drawRectangle(a, 300, 250)
    const [shape] = await shapesOf(a)
    await until(b, (id) => window.editor.getShape(id), shape.id)
    // The first socket may have opened before the listener was attached: reload to see one.
    await a.reload()
    await waitForBoard(a)
    assert.ok(sockets.length > 0 && sockets.every((u) => u.startsWith(`wss://127.0.0.1:${server.port}/connect/tls-room-1?`)), sockets.join(' '))
    await screenshot(b, 'tls-b-sees-rectangle')
  })
})
