// Limits with clear outcomes: --max-sessions-per-room closes the session past the limit
// with 4099 ROOM_FULL; a session's own reconnect is not refused. --max-messages-per-second
// closes a flooding session with 4099 RATE_LIMITED; --connection-rate-per-ip answers
// connections past the rate with HTTP 429; --max-records-per-room closes a session whose push
// would add records past the limit with 4099 ROOM_FULL, while edits and deletes go on.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { WebSocket } from 'ws'
import { waitFor } from './lib/client.mjs'
import { useServer, uniqueRoom } from './lib/harness.mjs'
import { put, remove } from './lib/raw.mjs'
import { geoShape } from './lib/records.mjs'
import { onlyTlsyncd } from './lib/server.mjs'

async function metricsText(ctx) {
	return (await fetch(ctx.server.httpUrl + '/metrics')).text()
}

describe('sessions per room', { timeout: 60000, skip: onlyTlsyncd('--max-sessions-per-room') }, () => {
	const ctx = useServer({ args: ['--max-sessions-per-room', '2'] })

	test('the third session of a room gets 4099 ROOM_FULL; other rooms are not affected', { timeout: 20000 }, async () => {
		const room = uniqueRoom()
		const a = await ctx.client(room, { name: 'a' })
		const b = await ctx.client(room, { name: 'b' })
		const p = await ctx.peer(room)
		const closed = await p.waitClosed()
		assert.equal(closed.code, 4099)
		assert.equal(closed.reason, 'ROOM_FULL')
		// Another room is open to the same clients' peers.
		const other = await ctx.peer(uniqueRoom())
		assert.equal((await other.connect()).type, 'connect')
		// A full room still takes back its own sessions: b's connection drops and the
		// client reconnects under the same session id.
		const connectsBefore = b.connectReplies().length
		b.dropSocket()
		await waitFor(() => b.connectReplies().length > connectsBefore && b.client.isConnectedToRoom, {
			what: 'b to reconnect to the full room',
			timeoutMs: 10000,
		})
		assert.ok(a.client.isConnectedToRoom)
		assert.match(await metricsText(ctx), /ROOM_FULL"?\}? [1-9]/)
	})
})

describe('messages per session', { timeout: 60000, skip: onlyTlsyncd('--max-messages-per-second') }, () => {
	const ctx = useServer({ args: ['--max-messages-per-second', '20'] })

	test('a real client within the rate keeps syncing; a flood gets 4099 RATE_LIMITED', { timeout: 20000 }, async () => {
		const room = uniqueRoom()
		const a = await ctx.client(room, { name: 'a' })
		const p = await ctx.peer(room)
		await p.connect()
		// 20 a second in bursts of 40: 200 pings at once is far past it.
		for (let i = 0; i < 200; i++) p.send({ type: 'ping' })
		const closed = await p.waitClosed()
		assert.equal(closed.code, 4099)
		assert.equal(closed.reason, 'RATE_LIMITED')
		// The other session of the room is untouched.
		assert.ok(a.client.isConnectedToRoom)
		const fresh = await ctx.peer(room)
		assert.equal((await fresh.connect()).type, 'connect')
		assert.match(await metricsText(ctx), /RATE_LIMITED"?\}? [1-9]/)
	})
})

describe('connections per address', { timeout: 60000, skip: onlyTlsyncd('--connection-rate-per-ip') }, () => {
	const ctx = useServer({ args: ['--connection-rate-per-ip', '2'] })

	test('past the rate (bursts of 4) a websocket upgrade is answered 429; later ones succeed again', { timeout: 20000 }, async () => {
		const room = uniqueRoom()
		const attempt = () =>
			new Promise((resolve) => {
				const ws = new WebSocket(ctx.server.roomUrl(room, { sessionId: `c-${Math.random()}`, storeId: 's' }))
				ws.once('open', () => {
					ws.terminate()
					resolve(101)
				})
				ws.once('unexpected-response', (_req, res) => {
					let body = ''
					res.on('data', (d) => (body += d))
					res.on('end', () => resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'], body }))
				})
				ws.once('error', () => {})
			})
		const results = []
		for (let i = 0; i < 8; i++) results.push(await attempt())
		const refused = results.filter((r) => r !== 101)
		assert.ok(results.filter((r) => r === 101).length >= 4, JSON.stringify(results))
		assert.ok(refused.length >= 1, JSON.stringify(results))
		assert.equal(refused[0].status, 429)
		assert.equal(refused[0].retryAfter, '1')
		assert.match(refused[0].body, /too many new connections/)
		// Plain HTTP requests are not counted.
		assert.equal((await fetch(ctx.server.httpUrl + '/healthz')).status, 200)
		// The bucket refills at 2 a second.
		await new Promise((r) => setTimeout(r, 1100))
		assert.equal(await attempt(), 101)
		assert.match(await metricsText(ctx), /connection_rate"?\}? [1-9]/)
	})
})

describe('records per room', { timeout: 60000, skip: onlyTlsyncd('--max-records-per-room') }, () => {
	const ctx = useServer({ args: ['--max-records-per-room', '4'] })

	test('a push adding records past the limit gets 4099 ROOM_FULL; the room stays usable', { timeout: 20000 }, async () => {
		const room = uniqueRoom()
		const a = await ctx.client(room, { name: 'a' })
		const p = await ctx.peer(room)
		await p.connect()
		// The document and the page, plus two shapes: the limit.
		const s1 = geoShape({ x: 1 })
		const s2 = geoShape({ x: 2 })
		assert.equal((await p.push({ diff: { [s1.id]: put(s1), [s2.id]: put(s2) } })).action, 'commit')
		const s3 = geoShape({ x: 3 })
		const q = await ctx.peer(room)
		await q.connect()
		q.send({ type: 'push', clientClock: 0, diff: { [s3.id]: put(s3) } })
		const closed = await q.waitClosed()
		assert.equal(closed.code, 4099)
		assert.equal(closed.reason, 'ROOM_FULL')
		// Deleting makes room again; the real client sees it all.
		assert.equal((await p.push({ diff: { [s1.id]: remove() } })).action, 'commit')
		assert.equal((await p.push({ diff: { [s3.id]: put(s3) } })).action, 'commit')
		await waitFor(() => a.get(s3.id) && !a.get(s1.id), { what: 'a to see the changes', timeoutMs: 5000 })
	})
})
