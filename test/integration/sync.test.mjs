// Real tldraw clients editing one room through the server: creates, prop updates, string
// appends, deletes, presence; rooms are isolated.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { converged, sleep, waitFor } from './lib/client.mjs'
import { useServer, uniqueRoom } from './lib/harness.mjs'
import { geoShape, noteShape, shapeText, toRichText } from './lib/records.mjs'

/** Every op of type `kind` in a received network diff, recursively. */
function findOps(value, kind, out = []) {
	if (Array.isArray(value)) {
		if (value[0] === kind) out.push(value)
		for (const v of value) findOps(v, kind, out)
	} else if (value && typeof value === 'object') {
		for (const v of Object.values(value)) findOps(v, kind, out)
	}
	return out
}

function patchesReceived(client) {
	const out = []
	for (const { msg } of client.received) {
		if (msg.type === 'data') out.push(...msg.data.filter((e) => e.type === 'patch'))
		else if (msg.type === 'patch') out.push(msg)
	}
	return out
}

function withText(shape, text) {
	return { ...shape, props: { ...shape.props, richText: toRichText(text) } }
}

describe('sync between real TLSyncClients', { timeout: 60000 }, () => {
	const ctx = useServer()

	test('two clients see each other\'s create, prop update, text append and delete (RP3 RP5 RP6 RP8)', { timeout: 20000 }, async () => {
		const room = uniqueRoom()
		const a = await ctx.client(room, { name: 'alice' })
		const b = await ctx.client(room, { name: 'bob' })

		// create on A -> B
		const shape = geoShape({ x: 10, y: 20, text: 'hello' })
		a.put(shape)
		await waitFor(() => b.get(shape.id), { what: 'B to receive the new shape' })
		assert.deepEqual(b.get(shape.id), shape)

		// prop update on B -> A
		b.update(shape.id, (s) => ({ ...s, x: 99, props: { ...s.props, color: 'red', w: 250 } }))
		await waitFor(() => a.get(shape.id)?.props.color === 'red', { what: 'A to receive the prop update' })
		assert.equal(a.get(shape.id).x, 99)
		assert.equal(a.get(shape.id).props.w, 250)

		// text edit in richText on A -> B (an object inside props: sent as a put, D3/D4 as shipped)
		a.update(shape.id, (s) => withText(s, 'hello world'))
		await waitFor(() => shapeText(b.get(shape.id)) === 'hello world', { what: 'B to receive the edited text' })

		// string append to a string value (meta.label) on A -> B: protocol 8 peers get an
		// `append` op recomputed by the server (D5, RP5)
		a.update(shape.id, (s) => ({ ...s, meta: { label: 'hello' } }))
		await waitFor(() => b.get(shape.id)?.meta.label === 'hello', { what: 'B to receive meta.label' })
		const before = patchesReceived(b).length
		a.update(shape.id, (s) => ({ ...s, meta: { label: 'hello world' } }))
		await waitFor(() => b.get(shape.id)?.meta.label === 'hello world', { what: 'B to receive the appended label' })
		const appends = findOps(patchesReceived(b).slice(before), 'append')
		assert.ok(
			appends.some((op) => op[1] === ' world' && op[2] === 5),
			`expected an ['append', ' world', 5] op, got ${JSON.stringify(patchesReceived(b).slice(before))}`
		)

		// delete on B -> A
		b.remove(shape.id)
		await waitFor(() => !a.get(shape.id), { what: 'A to see the delete' })
		await converged([a, b])
		assert.equal(a.shapes().length, 0)
	})

	test('three clients converge on concurrent creates, updates, interleaved text edits of one note, and deletes', { timeout: 20000 }, async () => {
		const room = uniqueRoom()
		const clients = [
			await ctx.client(room, { name: 'c1' }),
			await ctx.client(room, { name: 'c2' }),
			await ctx.client(room, { name: 'c3' }),
		]
		const [c1, c2, c3] = clients
		const note = noteShape({ text: 'note:' })
		c1.put(note)
		await converged(clients, { check: (c) => !!c.get(note.id) })

		// each client creates shapes concurrently
		const created = clients.map((c, i) => {
			const shapes = Array.from({ length: 5 }, (_, k) => geoShape({ x: i * 100, y: k * 100, text: `${c.name}-${k}` }))
			c.put(...shapes)
			return shapes
		})
		await converged(clients, { check: (c) => c.shapes().length === 16 })

		// concurrent updates to different shapes, and appends to the note from all three in turn
		for (let round = 0; round < 3; round++) {
			clients.forEach((c, i) => {
				c.update(created[i][round].id, (s) => ({ ...s, props: { ...s.props, color: 'blue', h: 10 + round } }))
			})
			for (const c of clients) {
				await waitFor(() => c.isSettled(), { what: `${c.name} settled` })
				c.update(note.id, (s) => withText(s, shapeText(s) + ` ${c.name}.${round}`))
				await converged(clients)
			}
		}
		const expectedText = 'note:' + [0, 1, 2].map((r) => ` c1.${r} c2.${r} c3.${r}`).join('')
		for (const c of clients) assert.equal(shapeText(c.get(note.id)), expectedText, c.name)
		assert.equal(c3.get(created[0][2].id).props.color, 'blue')

		// deletes from two clients at once, one of them of a shape another client just updated
		c1.remove(...created[1].map((s) => s.id))
		c2.update(created[1][4].id, (s) => ({ ...s, x: 1234 }))
		c3.remove(created[2][0].id)
		await converged(clients, { check: (c) => c.shapes().length === 16 - 5 - 1 })
		assert.equal(c2.get(created[1][4].id), undefined)
	})

	test('presence: cursors propagate via instance_presence to every other client (RP10 HS5)', { timeout: 20000 }, async () => {
		const room = uniqueRoom()
		const a = await ctx.client(room, { name: 'alice' })
		const b = await ctx.client(room, { name: 'bob' })
		const c = await ctx.client(room, { name: 'carol' })

		a.setCursor(123, 456)
		c.setCursor(-5, 7.5)
		for (const [viewer, user, x, y] of [[b, 'alice', 123, 456], [c, 'alice', 123, 456], [a, 'carol', -5, 7.5], [b, 'carol', -5, 7.5]]) {
			await waitFor(() => viewer.peers()[user]?.cursor?.x === x && viewer.peers()[user]?.cursor?.y === y, {
				what: `${viewer.name} to see ${user}'s cursor at ${x},${y}`,
				describe: () => JSON.stringify(Object.values(viewer.peers()).map((p) => [p.userName, p.cursor])),
			})
		}
		// a client never holds its own presence record from the server (HS5: own presence excluded)
		assert.equal(a.peers().alice, undefined)
		// server forces ids: the presence record's id is the server's, not the client's
		const seen = b.peers().alice
		assert.equal(seen.typeName, 'instance_presence')

		// a late joiner gets the current presence of everybody in its connect reply (HS5)
		const d = await ctx.client(room, { name: 'dave' })
		const reply = d.connectReplies()[0]
		const presences = Object.values(reply.diff).filter((op) => op[0] === 'put' && op[1].typeName === 'instance_presence')
		assert.deepEqual(presences.map((op) => op[1].userName).sort(), ['alice', 'bob', 'carol'])
		assert.equal(d.peers().alice.cursor.x, 123)

		// moving again updates the others (patches, not only puts)
		a.setCursor(1, 2)
		await waitFor(() => d.peers().alice?.cursor?.x === 1 && b.peers().alice?.cursor?.y === 2, { what: 'cursor move' })
	})

	test('presence of a client that leaves is removed for the others (SES3)', { timeout: 20000 }, async () => {
		const room = uniqueRoom()
		const a = await ctx.client(room, { name: 'alice' })
		const b = await ctx.client(room, { name: 'bob' })
		a.setCursor(1, 1)
		await waitFor(() => b.peers().alice, { what: 'B to see alice' })
		a.close()
		// removal waits SESSION_REMOVAL_WAIT_TIME (5 s) plus a prune tick (<= 2 s)
		await waitFor(() => !b.peers().alice, { timeoutMs: 12000, what: "alice's presence to be removed at B" })
	})

	test('rooms are isolated: a client in another room sees no documents or presence', { timeout: 20000 }, async () => {
		const room1 = uniqueRoom()
		const room2 = uniqueRoom()
		const a = await ctx.client(room1, { name: 'alice' })
		const b = await ctx.client(room1, { name: 'bob' })
		const other = await ctx.client(room2, { name: 'olga' })
		const baseline = other.documents()

		a.put(geoShape({ text: 'room1 only' }))
		a.setCursor(5, 5)
		const mine = geoShape({ text: 'room2 only' })
		other.put(mine)
		await converged([a, b], { check: (c) => c.shapes().length === 1 && !!c.peers().alice === (c === b) })
		await other.settled()
		await sleep(300)
		assert.deepEqual(Object.keys(other.documents()).sort(), [...Object.keys(baseline), mine.id].sort())
		assert.deepEqual(other.peers(), {})
		assert.equal(a.get(mine.id), undefined)
		assert.equal(b.get(mine.id), undefined)
		// nothing from room1 ever reached the other room's socket
		assert.ok(!JSON.stringify(other.received).includes('room1 only'))
	})
})
