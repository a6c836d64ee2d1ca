// Reconnection and hydration: incremental (wipe_presence) vs full (wipe_all) connect replies.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { converged, waitFor } from './lib/client.mjs'
import { useServer, uniqueRoom } from './lib/harness.mjs'
import { put, remove } from './lib/raw.mjs'
import { geoShape } from './lib/records.mjs'

const hydrations = (client) => client.connectReplies().map((m) => m.hydrationType)

describe('reconnect and hydration', { timeout: 90000 }, () => {
	const ctx = useServer()

	test('a client restarting its socket reconnects with lastServerClock, gets wipe_presence with only newer changes, and keeps editing (HS4 HS5 CL5)', { timeout: 20000 }, async () => {
		const room = uniqueRoom()
		const a = await ctx.client(room, { name: 'alice' })
		const b = await ctx.client(room, { name: 'bob' })
		const old = geoShape({ text: 'old' })
		a.put(old)
		await converged([a, b], { check: (c) => !!c.get(old.id) })
		const clockBefore = a.lastServerClock
		assert.ok(clockBefore > 0, `lastServerClock should be > 0, got ${clockBefore}`)
		b.setCursor(3, 4)
		await waitFor(() => a.peers().bob?.cursor.x === 3, { what: "A to see bob's cursor" })

		a.restartSocket()
		// while A is offline: B edits, and A edits locally (pushed after reconnect, CP3)
		const fromB = geoShape({ text: 'made while A was away' })
		b.put(fromB)
		await b.settled()
		const offline = geoShape({ text: 'made offline' })
		a.put(offline)

		await waitFor(() => a.connectReplies().length === 2 && a.client.isConnectedToRoom, { timeoutMs: 8000, what: 'A to reconnect' })
		const connects = a.sent.filter((s) => s.msg.type === 'connect').map((s) => s.msg)
		assert.equal(connects.length, 2)
		assert.equal(connects[0].lastServerClock, -1)
		assert.equal(connects[1].lastServerClock, clockBefore)
		assert.deepEqual(hydrations(a), ['wipe_all', 'wipe_presence'])

		const reply = a.connectReplies()[1]
		assert.ok(reply.diff[fromB.id]?.[0] === 'put', 'reconnect diff carries the record created meanwhile')
		assert.equal(reply.diff[old.id], undefined, 'reconnect diff is incremental: no record older than lastServerClock')
		assert.ok(
			Object.values(reply.diff).some((op) => op[0] === 'put' && op[1].typeName === 'instance_presence' && op[1].userName === 'bob'),
			"reconnect diff carries the other sessions' presence"
		)
		assert.ok(reply.serverClock >= clockBefore)

		await converged([a, b], { check: (c) => !!c.get(offline.id) && !!c.get(fromB.id) && !!c.get(old.id) })
		assert.equal(a.peers().bob?.cursor.x, 3)

		// and keeps editing after the reconnect
		a.update(old.id, (s) => ({ ...s, x: 777 }))
		await waitFor(() => b.get(old.id)?.x === 777, { what: 'B to see the post-reconnect edit' })
		assert.deepEqual(a.syncErrors, [])
	})

	test('a client whose socket is dropped without a close frame reconnects and resyncs', { timeout: 20000 }, async () => {
		const room = uniqueRoom()
		const a = await ctx.client(room, { name: 'alice' })
		const b = await ctx.client(room, { name: 'bob' })
		a.put(geoShape({ text: 'one' }))
		await converged([a, b], { check: (c) => c.shapes().length === 1 })
		a.dropSocket()
		await waitFor(() => a.connectReplies().length === 2 && a.client.isConnectedToRoom, { timeoutMs: 8000, what: 'A to reconnect' })
		assert.equal(hydrations(a)[1], 'wipe_presence')
		b.put(geoShape({ text: 'two' }))
		await converged([a, b], { check: (c) => c.shapes().length === 2 })
	})

	test('connect with lastServerClock -1 gets wipe_all with the full document set (HS4 HS5)', { timeout: 15000 }, async () => {
		const room = uniqueRoom()
		const a = await ctx.client(room, { name: 'alice' })
		const shapes = [geoShape({ text: 'x' }), geoShape({ text: 'y' })]
		a.put(...shapes)
		await a.settled()

		const p = await ctx.peer(room)
		const reply = await p.connect({ lastServerClock: -1 })
		assert.equal(reply.type, 'connect')
		assert.equal(reply.hydrationType, 'wipe_all')
		assert.equal(reply.protocolVersion, 8)
		assert.equal(reply.isReadonly, false)
		assert.equal(reply.serverClock, a.lastServerClock)
		assert.deepEqual(reply.schema, p.connectMessage().schema, 'server schema equals the client schema (same tlschema version)')
		const docs = Object.entries(reply.diff).filter(([, op]) => op[1]?.typeName !== 'instance_presence')
		assert.ok(docs.every(([, op]) => op[0] === 'put'))
		assert.deepEqual(docs.map(([id]) => id).sort(), Object.keys(a.documents()).sort())
		for (const s of shapes) assert.deepEqual(reply.diff[s.id][1], s)
	})

	test('connect with a lastServerClock in the future gets wipe_all (HS4 SS15)', { timeout: 15000 }, async () => {
		const room = uniqueRoom()
		const a = await ctx.client(room, { name: 'alice' })
		a.put(geoShape())
		await a.settled()
		const p = await ctx.peer(room)
		const reply = await p.connect({ lastServerClock: a.lastServerClock + 1000 })
		assert.equal(reply.hydrationType, 'wipe_all')
		assert.equal(Object.values(reply.diff).filter((op) => op[1]?.typeName === 'shape').length, 1)
	})

	test('a clock older than the pruned tombstone history gets wipe_all; a recent one gets removes (SS18 HS4)', { timeout: 45000 }, async () => {
		// 6100 deletes: more than MAX_TOMBSTONES (5000), so pruning drops the oldest 2100+
		// (whole clock values) and moves the tombstone history start past the create clock.
		const room = uniqueRoom()
		const writer = await ctx.peer(room)
		const hello = await writer.connect()
		assert.equal(hello.hydrationType, 'wipe_all')
		const N = 6100
		const BATCH = 1000
		const ids = []
		for (let i = 0; i < N; i += BATCH) {
			const diff = {}
			for (let k = i; k < Math.min(N, i + BATCH); k++) {
				const s = geoShape({ x: k })
				diff[s.id] = put(s)
				ids.push(s.id)
			}
			const res = await writer.push({ diff })
			assert.equal(res.action, 'commit')
		}
		const createdClock = writer.lastServerClock()
		const deleteClocks = []
		for (let i = 0; i < N; i += BATCH) {
			const diff = {}
			for (const id of ids.slice(i, i + BATCH)) diff[id] = remove()
			const res = await writer.push({ diff })
			assert.equal(res.action, 'commit')
			deleteClocks.push(res.serverClock)
		}
		const lastClock = writer.lastServerClock()
		assert.equal(lastClock, deleteClocks.at(-1))

		// pruning is throttled (SS18: 1 s trailing); poll with fresh peers
		let reply
		await waitFor(
			async () => {
				const p = await ctx.peer(room)
				reply = await p.connect({ lastServerClock: createdClock })
				p.terminate()
				return reply.hydrationType === 'wipe_all'
			},
			{ timeoutMs: 10000, intervalMs: 250, what: `wipe_all for a clock (${createdClock}) before the pruned tombstones`, describe: () => reply?.hydrationType }
		)
		assert.equal(Object.values(reply.diff).filter((op) => op[1]?.typeName === 'shape').length, 0)
		assert.ok(Object.values(reply.diff).every((op) => op[0] === 'put'), 'wipe_all carries puts only')

		// a client that saw everything but the last delete batch gets just those removes
		const p = await ctx.peer(room)
		const recent = await p.connect({ lastServerClock: deleteClocks.at(-2) })
		assert.equal(recent.hydrationType, 'wipe_presence')
		const removed = Object.entries(recent.diff).filter(([, op]) => op[0] === 'remove').map(([id]) => id)
		assert.deepEqual(removed.sort(), ids.slice(-(N % BATCH || BATCH)).sort())
		assert.equal(recent.serverClock, lastClock)

		// and one that is up to date gets an empty document diff
		const p2 = await ctx.peer(room)
		const upToDate = await p2.connect({ lastServerClock: lastClock })
		assert.equal(upToDate.hydrationType, 'wipe_presence')
		assert.deepEqual(Object.values(upToDate.diff).filter((op) => op[1]?.typeName !== 'instance_presence'), [])
	})
})
