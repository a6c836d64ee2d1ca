// Limits with clear outcomes: --max-sessions-per-room closes the session past the limit
// with 4099 ROOM_FULL; a session's own reconnect is not refused.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { waitFor } from './lib/client.mjs'
import { useServer, uniqueRoom } from './lib/harness.mjs'
import { onlyTlsyncd } from './lib/server.mjs'

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
		const metrics = await (await fetch(ctx.server.httpUrl + '/metrics')).text()
		assert.match(metrics, /ROOM_FULL"?\}? [1-9]/)
	})
})
