// What the real client is told about its own pushes: edits it makes are
// applied verbatim, so they must come back as `commit`, never as a
// `rebaseWithDiff` (which would make the client re-apply the server's diff
// for every keystroke). @tldraw/sync-core 5.4.2 puts objects nested inside
// props (props.richText) where SPEC D4 would patch them (RP7).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { waitFor } from './lib/client.mjs'
import { useServer, uniqueRoom } from './lib/harness.mjs'
import { geoShape, noteShape, shapeText, toRichText } from './lib/records.mjs'

function pushResults(client) {
	return client.received
		.flatMap(({ msg }) => (msg.type === 'data' ? msg.data : [msg]))
		.filter((e) => e.type === 'push_result')
}

const actionName = (r) => (typeof r.action === 'string' ? r.action : Object.keys(r.action)[0])

describe('push results for the real client', { timeout: 60000 }, () => {
	const ctx = useServer()

	test('text, prop and position edits commit (RP7), and the peer converges', { timeout: 30000 }, async () => {
		const room = uniqueRoom()
		const a = await ctx.client(room, { name: 'writer' })
		const b = await ctx.client(room, { name: 'reader' })
		const geo = geoShape({ x: 1, y: 2, text: 'a' })
		const note = noteShape({ x: 5, y: 6, text: 'n' })
		a.put(geo)
		a.put(note)
		await waitFor(() => b.get(geo.id) && b.get(note.id), { what: 'B to see both shapes' })

		let text = 'a'
		for (let i = 0; i < 20; i++) {
			text += String.fromCharCode(98 + (i % 20))
			const t = text
			a.update(geo.id, (s) => ({ ...s, props: { ...s.props, richText: toRichText(t) } }))
			a.update(note.id, (s) => ({ ...s, x: s.x + 1, props: { ...s.props, richText: toRichText(t.toUpperCase()) } }))
			await new Promise((r) => setTimeout(r, 40)) // one push per client throttle tick
		}
		await waitFor(() => shapeText(b.get(geo.id)) === text && shapeText(b.get(note.id)) === text.toUpperCase(), {
			what: 'B to converge on the edited texts',
		})
		await new Promise((r) => setTimeout(r, 300)) // results go out before the broadcast; let them arrive
		const actions = pushResults(a).map(actionName)
		assert.ok(actions.length >= 3, `expected several push results, got ${actions.length}`)
		assert.deepEqual(
			actions.filter((x) => x !== 'commit'),
			[],
			`every push should commit; got ${JSON.stringify(actions)}`
		)
	})
})
