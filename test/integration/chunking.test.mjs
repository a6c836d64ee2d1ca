// Messages over the client's chunk size (262144 chars) travel as `N_` chunks (CH1-CH7).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { chunk } from '@tldraw/sync-core'
import { converged, waitFor } from './lib/client.mjs'
import { useServer, uniqueRoom } from './lib/harness.mjs'
import { put } from './lib/raw.mjs'
import { geoShape, noteShape, shapeText, toRichText } from './lib/records.mjs'

/**
 * n UTF-16 units of text with multi-byte (UTF-8) characters. No astral characters: chunk() in
 * sync-core 5.4.2 predates SPEC CH9 and may split a surrogate pair across two frames, which
 * corrupts it on the client side before the server ever sees it.
 */
function bigText(n) {
	const unit = 'lorem ipsum — dolor ✓ sit amet ü '
	return unit.repeat(Math.ceil(n / unit.length)).slice(0, n)
}

describe('chunked messages', { timeout: 60000 }, () => {
	const ctx = useServer()

	test('a real client\'s push above the chunk size is sent chunked, applied, and broadcast (CH1 CH2 CH6)', { timeout: 20000 }, async () => {
		const room = uniqueRoom()
		const a = await ctx.client(room, { name: 'alice' })
		const b = await ctx.client(room, { name: 'bob' })
		const text = bigText(1_000_000)
		const note = noteShape({ text })
		a.put(note)
		await converged([a, b], { timeoutMs: 15000, check: (c) => !!c.get(note.id) })
		assert.ok(a.socket._ws.sentChunkFrames >= 4, `expected >= 4 chunk frames, sent ${a.socket._ws.sentChunkFrames}`)
		assert.equal(shapeText(b.get(note.id)), text, 'text intact')
		// a late joiner gets it in its connect reply
		const c = await ctx.client(room, { name: 'carol' })
		assert.equal(shapeText(c.get(note.id)), text)

		// a big update of an existing record too
		const text2 = bigText(600_000).toUpperCase()
		b.update(note.id, (s) => ({ ...s, props: { ...s.props, richText: toRichText(text2) } }))
		await converged([a, b, c], { timeoutMs: 15000, check: (x) => shapeText(x.get(note.id)) === text2 })
	})

	test('a raw chunked connect and push are reassembled; chunk boundaries may fall anywhere (CH2 CH3)', { timeout: 15000 }, async () => {
		const room = uniqueRoom()
		const p = await ctx.peer(room)
		const connect = p.connectMessage()
		const parts = chunk(JSON.stringify(connect), 40) // many tiny chunks
		assert.ok(parts.length > 10)
		for (const part of parts) p.sendRaw(part)
		const reply = await p.next((m) => m.type === 'connect')
		assert.equal(reply.connectRequestId, connect.connectRequestId)

		const shapes = Array.from({ length: 3 }, () => geoShape({ text: bigText(150_000) }))
		const diff = Object.fromEntries(shapes.map((s) => [s.id, put(s)]))
		const res = await p.push({ diff }) // ~450k chars: chunked at 262144
		assert.equal(res.action, 'commit')
		const b = await ctx.client(room, { name: 'bob' })
		for (const s of shapes) assert.deepEqual(b.get(s.id), s)
	})

	test('chunks out of order close that socket without touching the room (CH7)', { timeout: 15000 }, async () => {
		const room = uniqueRoom()
		const watcher = await ctx.client(room, { name: 'watcher' })
		const p = await ctx.peer(room)
		await p.connect()
		const s = geoShape({ text: bigText(300_000) })
		const parts = chunk(JSON.stringify({ type: 'push', clientClock: 0, diff: { [s.id]: put(s) } }))
		assert.equal(parts.length, 2)
		p.sendRaw(parts[1]) // '0_' first
		p.sendRaw(parts[0])
		const closed = await p.waitClosed(5000)
		assert.notEqual(closed.code, 1000, `closed with ${closed.code} ${closed.reason}`)
		await watcher.settled()
		assert.equal(watcher.get(s.id), undefined)
		watcher.put(geoShape())
		await watcher.settled()
	})

	test('a JSON message in the middle of a chunk sequence is an error (CH5)', { timeout: 15000 }, async () => {
		const room = uniqueRoom()
		const p = await ctx.peer(room)
		await p.connect()
		const s = geoShape({ text: bigText(300_000) })
		const parts = chunk(JSON.stringify({ type: 'push', clientClock: 0, diff: { [s.id]: put(s) } }))
		p.sendRaw(parts[0])
		p.sendRaw(JSON.stringify({ type: 'ping' }))
		p.sendRaw(parts[1])
		// TLSocketRoom closes the socket on an assembly error; nothing may be applied either way
		await waitFor(() => p.closed, { timeoutMs: 5000, what: 'the socket to close' })
		const q = await ctx.peer(room)
		assert.equal((await q.connect()).diff[s.id], undefined)
	})
})
