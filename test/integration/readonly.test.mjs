// Readonly sessions (RP9). tlsyncd has no readonly URL flag yet: the test probes the server
// with ?readonly=1 (or TLSYNC_READONLY_PARAM=key=value) and skips when the connect reply does
// not say isReadonly. The reference server supports ?readonly=1.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { waitFor } from './lib/client.mjs'
import { useServer, uniqueRoom } from './lib/harness.mjs'
import { geoShape } from './lib/records.mjs'

describe('readonly sessions', { timeout: 30000 }, () => {
	const ctx = useServer()
	const READONLY_PARAM = process.env.TLSYNC_READONLY_PARAM || 'readonly=1'
	const [rk, rv] = READONLY_PARAM.split('=')

	test('a readonly session\'s document pushes are discarded; its presence still syncs (RP9 HS4)', { timeout: 15000 }, async (t) => {
		const room = uniqueRoom()
		const probe = await ctx.peer(room, { [rk]: rv })
		const reply = await probe.connect()
		if (reply.isReadonly !== true) {
			t.skip(`server has no readonly URL flag (connect with ?${READONLY_PARAM} replied isReadonly=${reply.isReadonly})`)
			return
		}
		const writer = await ctx.client(room, { name: 'writer' })
		const existing = geoShape({ text: 'mine' })
		writer.put(existing)
		await writer.settled()

		const ro = await ctx.client(room, { name: 'reader', params: { [rk]: rv } })
		assert.equal(ro.connectReplies()[0].isReadonly, true)
		assert.ok(ro.get(existing.id), 'readonly clients still receive the document')
		const attempt = geoShape({ text: 'not allowed' })
		ro.put(attempt)
		ro.update(existing.id, (s) => ({ ...s, x: 500 }))
		await ro.settled()
		const results = ro.received.flatMap((r) => (r.msg.type === 'data' ? r.msg.data : [])).filter((e) => e.type === 'push_result')
		assert.ok(results.length > 0 && results.every((e) => e.action === 'discard'), JSON.stringify(results))
		await waitFor(() => !ro.get(attempt.id) && ro.get(existing.id).x === 0, { what: 'the readonly client to roll back' })
		assert.equal(writer.get(attempt.id), undefined)

		ro.setCursor(42, 43)
		await waitFor(() => writer.peers().reader?.cursor.x === 42, { what: "writer to see the reader's cursor" })
		writer.update(existing.id, (s) => ({ ...s, y: 9 }))
		await waitFor(() => ro.get(existing.id)?.y === 9, { what: 'readonly client to receive edits' })
	})
})
