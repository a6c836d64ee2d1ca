// Custom record schemas (--schema FILE, issue 4) with the real tldraw client: a custom shape
// declared in examples/schemas/sticker.json syncs between TLSyncClients whose store schema
// includes it; invalid records are closed 4099 INVALID_RECORD; clients on two versions of the
// shape (a rename migration) interoperate; every default record the package's record types
// make is accepted, and mutated ones are rejected.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, test } from 'node:test'
import * as tlschema from '@tldraw/tlschema'
import {
	createShapePropsMigrationIds,
	createShapePropsMigrationSequence,
	createTLSchema,
	DefaultColorStyle,
	defaultShapeSchemas,
} from '@tldraw/tlschema'
import { T } from '@tldraw/validate'
import { connectClient, converged, waitFor } from './lib/client.mjs'
import { useServer, uniqueRoom } from './lib/harness.mjs'
import { put } from './lib/raw.mjs'
import { PAGE_ID } from './lib/records.mjs'
import { makeTempDir, onlyTlsyncd, startServer } from './lib/server.mjs'
import { makeCorpus } from '../../scripts/tldraw-validator-corpus.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const STICKER_JSON = path.join(here, '..', '..', 'examples', 'schemas', 'sticker.json')
const STICKER_V1_JSON = path.join(here, 'fixtures', 'sticker-v1.json') // the file before the rename

// The app's side: the sticker shape as a tldraw app declares it, in two releases.
// v1 had `label`; v2 renamed it `caption` (examples/schemas/sticker.json is v2).
const ids = createShapePropsMigrationIds('sticker', { AddColor: 1, RenameLabel: 2 })
const addColor = { id: ids.AddColor, up: (p) => void (p.color = 'black'), down: (p) => void delete p.color }
const renameLabel = {
	id: ids.RenameLabel,
	up: (p) => {
		p.caption = p.label
		delete p.label
	},
	down: (p) => {
		p.label = p.caption
		delete p.caption
	},
}
const common = {
	w: T.nonZeroNumber,
	h: T.nonZeroNumber,
	emoji: T.string,
	color: DefaultColorStyle,
	rating: T.optional(T.literalEnum(1, 2, 3, 4, 5)),
}
function stickerSchema({ version, props = {} }) {
	const sticker =
		version === 1
			? { props: { ...common, label: T.string, ...props }, migrations: createShapePropsMigrationSequence({ sequence: [addColor] }) }
			: { props: { ...common, caption: T.string, ...props }, migrations: createShapePropsMigrationSequence({ sequence: [addColor, renameLabel] }) }
	return createTLSchema({ shapes: { ...defaultShapeSchemas, sticker } })
}
const v1 = stickerSchema({ version: 1 })
const v2 = stickerSchema({ version: 2 })

let n = 0
function sticker(schema, { text = 'hi', version = 2, ...props } = {}) {
	return schema.types.shape.create({
		id: tlschema.createShapeId(`sticker${++n}`),
		type: 'sticker',
		parentId: PAGE_ID,
		index: 'a1',
		x: 10 * n,
		y: 5,
		props: { w: 80, h: 80, emoji: '⭐', color: 'yellow', [version === 1 ? 'label' : 'caption']: text, ...props },
	})
}

async function expectInvalidRecord(p, what) {
	await p.waitUntil(() => p.closed || p.dataEvents().some((e) => e.type === 'push_result'), 5000, 'close or push_result')
	assert.ok(p.closed, `${what}: the server answered ${JSON.stringify(p.dataEvents())} instead of closing`)
	const closed = await p.waitClosed(5000)
	assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 4099, reason: 'INVALID_RECORD' }, what)
}

describe('custom shapes from a --schema file', { timeout: 120000, skip: onlyTlsyncd('--schema') }, () => {
	const ctx = useServer({ args: ['--schema', STICKER_JSON] })

	test('a sticker syncs between two clients whose store schema includes it', { timeout: 20000 }, async () => {
		const room = uniqueRoom('sticker')
		const a = await ctx.client(room, { name: 'alice', schema: v2 })
		const b = await ctx.client(room, { name: 'bob', schema: v2 })
		const s = sticker(v2, { text: 'gold star', rating: 5 })
		a.put(s)
		await waitFor(() => b.get(s.id), { what: 'bob to receive the sticker' })
		assert.deepEqual(b.get(s.id), s)
		b.update(s.id, (r) => ({ ...r, props: { ...r.props, caption: 'silver star', color: 'grey' } }))
		await converged([a, b], { check: (c) => c.get(s.id)?.props.caption === 'silver star' })
		assert.equal(a.get(s.id).props.color, 'grey')
		assert.deepEqual(a.syncErrors, [])
		assert.deepEqual(b.syncErrors, [])
	})

	test('a client on v1 of the sticker and one on v2 see each other\'s edits in their own version (MG1 MG2)', { timeout: 20000 }, async () => {
		const room = uniqueRoom('sticker-versions')
		const old = await ctx.client(room, { name: 'old', schema: v1 })
		const cur = await ctx.client(room, { name: 'current', schema: v2 })

		const fromOld = sticker(v1, { version: 1, text: 'written by v1' })
		old.put(fromOld)
		await waitFor(() => cur.get(fromOld.id), { what: 'v2 to receive the v1 sticker' })
		assert.equal(cur.get(fromOld.id).props.caption, 'written by v1')
		assert.equal('label' in cur.get(fromOld.id).props, false)

		const fromCur = sticker(v2, { text: 'written by v2' })
		cur.put(fromCur)
		await waitFor(() => old.get(fromCur.id), { what: 'v1 to receive the v2 sticker' })
		assert.equal(old.get(fromCur.id).props.label, 'written by v2')
		assert.equal('caption' in old.get(fromCur.id).props, false)

		cur.update(fromOld.id, (r) => ({ ...r, props: { ...r.props, caption: 'edited by v2' } }))
		await waitFor(() => old.get(fromOld.id)?.props.label === 'edited by v2', { what: 'v1 to see the v2 edit' })
		old.update(fromCur.id, (r) => ({ ...r, props: { ...r.props, label: 'edited by v1' } }))
		await waitFor(() => cur.get(fromCur.id)?.props.caption === 'edited by v1', { what: 'v2 to see the v1 edit' })
		await old.settled()
		await cur.settled()
		assert.deepEqual([...old.syncErrors, ...cur.syncErrors], [])

		// what the room stores is v2: a raw peer on the server's schema reads it back
		const p = await ctx.peer(room)
		const reply = await p.connect({ schema: v2.serialize() })
		assert.equal(reply.diff[fromCur.id][1].props.caption, 'edited by v1')
		assert.equal(reply.diff[fromOld.id][1].props.caption, 'edited by v2')
	})

	test('a client whose app accepts props the file does not is closed 4099 INVALID_RECORD (RP2)', { timeout: 20000 }, async () => {
		const room = uniqueRoom('sticker-loose')
		// the app drifted: its sticker allows any width, the server's needs a positive one
		const loose = stickerSchema({ version: 2, props: { w: T.number } })
		const watcher = await ctx.client(room, { name: 'watcher', schema: v2 })
		const c = await ctx.client(room, { name: 'loose', schema: loose })
		const bad = sticker(loose, { w: -40 })
		c.put(bad)
		await waitFor(() => c.syncErrors.length > 0, { what: 'the loose client to be rejected' })
		assert.deepEqual(c.syncErrors, ['INVALID_RECORD'])
		const good = sticker(v2)
		watcher.put(good)
		await watcher.settled()
		assert.equal(watcher.get(bad.id), undefined)
		assert.deepEqual(watcher.syncErrors, [])
	})

	test('a client on a sticker version the file does not have yet is closed SERVER_TOO_OLD (HS3)', { timeout: 20000 }, async () => {
		const room = uniqueRoom('sticker-future')
		// the app shipped v3 of the sticker before the server's file learned it
		const v3 = createTLSchema({
			shapes: {
				...defaultShapeSchemas,
				sticker: {
					props: { ...common, caption: T.string, size: T.optional(T.string) },
					migrations: createShapePropsMigrationSequence({
						sequence: [addColor, renameLabel, { id: 'com.tldraw.shape.sticker/3', up: () => {}, down: (p) => void delete p.size }],
					}),
				},
			},
		})
		assert.equal(v3.serialize().sequences['com.tldraw.shape.sticker'], 3)
		const future = ctx.clientNoWait(room, { name: 'future', schema: v3 })
		await waitFor(() => future.syncErrors.length > 0, { timeoutMs: 8000, what: 'the v3 client to be rejected' })
		assert.deepEqual(future.syncErrors, ['SERVER_TOO_OLD'])
		// the v2 client next to it is served
		const cur = await ctx.client(room, { name: 'current', schema: v2 })
		assert.deepEqual(cur.syncErrors, [])
	})

	test('stickers with a wrong type, a missing prop, an extra prop or a value out of range are rejected', { timeout: 30000 }, async () => {
		const room = uniqueRoom('sticker-invalid')
		const valid = sticker(v2)
		const mutations = {
			'wrong type (w is a string)': (r) => (r.props.w = 'wide'),
			'missing prop (emoji)': (r) => delete r.props.emoji,
			'extra prop (props.size)': (r) => (r.props.size = 'm'),
			'out of range (rating 6)': (r) => (r.props.rating = 6),
			'out of range (opacity 2)': (r) => (r.opacity = 2),
			'not a color (color chartreuse)': (r) => (r.props.color = 'chartreuse'),
			'unknown shape type': (r) => (r.type = 'stickerz'),
		}
		for (const [what, mutate] of Object.entries(mutations)) {
			const record = structuredClone(valid)
			mutate(record)
			const p = await ctx.peer(room)
			await p.connect({ schema: v2.serialize() })
			p.send({ type: 'push', clientClock: 0, diff: { [record.id]: put(record) } })
			await expectInvalidRecord(p, what)
		}
		const p = await ctx.peer(room)
		const reply = await p.connect({ schema: v2.serialize() })
		assert.equal(reply.diff[valid.id], undefined)
		// and the valid one is accepted on the same path
		p.send({ type: 'push', clientClock: 1, diff: { [valid.id]: put(valid) } })
		await p.waitUntil(() => p.dataEvents().some((e) => e.type === 'push_result'), 5000, 'push_result')
		assert.equal(p.dataEvents().find((e) => e.type === 'push_result').action, 'commit')
	})
})

describe('the built-in tldraw records over the wire, with a --schema file loaded', { timeout: 120000, skip: onlyTlsyncd('--schema') }, () => {
	const ctx = useServer({ args: ['--schema', STICKER_JSON] })
	const corpus = makeCorpus(tlschema, createTLSchema())
	const documentTypes = new Set(['page', 'shape', 'binding', 'asset'])

	test('every default shape, binding, asset and document record made by the package is accepted', { timeout: 30000 }, async () => {
		const room = uniqueRoom('defaults')
		const records = corpus.bases.filter((r) => documentTypes.has(r.typeName))
		assert.ok(records.length >= 20, `corpus has ${records.length} document records`)
		const p = await ctx.peer(room)
		await p.connect({ schema: v2.serialize() })
		const diff = Object.fromEntries(records.map((r) => [r.id, put(r)]))
		p.send({ type: 'push', clientClock: 0, diff })
		await p.waitUntil(() => p.closed || p.dataEvents().some((e) => e.type === 'push_result'), 5000, 'push_result')
		assert.ok(!p.closed, 'the server closed the socket instead of committing')
		assert.equal(p.dataEvents().find((e) => e.type === 'push_result').action, 'commit')
		// a real client with the extended schema loads all of them (its store validates each one)
		const c = await ctx.client(room, { name: 'reader', schema: v2 })
		for (const r of records) assert.deepEqual(c.get(r.id), r, `${r.typeName} ${r.type ?? ''}`)
		const shapeTypes = new Set(records.filter((r) => r.typeName === 'shape').map((r) => r.type))
		for (const t of Object.keys(defaultShapeSchemas)) assert.ok(shapeTypes.has(t), `no ${t} shape in the corpus`)
	})

	test('default records mutated to be invalid (wrong type, missing prop, extra prop, out of range) are rejected', { timeout: 60000 }, async () => {
		// A sample of the corpus's invalid cases per kind of mutation, on shapes and bindings.
		const kinds = {
			'missing prop': (c) => c.del && c.p[0] === 'props',
			'extra prop': (c) => c.p[c.p.length - 1] === 'extra' && c.p[0] === 'props',
			'wrong type': (c) => c.v === 'nope' && c.p[0] === 'props',
			'out of range': (c) => c.v === -5 && c.p[0] === 'props',
		}
		const apply = (c) => {
			const copy = structuredClone(corpus.bases[c.b])
			let o = copy
			for (const k of c.p.slice(0, -1)) o = o[k]
			if (c.del) delete o[c.p[c.p.length - 1]]
			else o[c.p[c.p.length - 1]] = c.v
			return copy
		}
		const room = uniqueRoom('mutated')
		let checked = 0
		for (const [kind, pick] of Object.entries(kinds)) {
			const seen = new Set()
			for (const c of corpus.cases) {
				const base = corpus.bases[c.b]
				if (c.e < 0 || !['shape', 'binding'].includes(base.typeName) || !pick(c)) continue
				if (seen.has(base.type) || seen.size >= 3) continue
				seen.add(base.type)
				const record = apply(c)
				const p = await ctx.peer(room)
				await p.connect({ schema: v2.serialize() })
				p.send({ type: 'push', clientClock: 0, diff: { [record.id]: put(record) } })
				await expectInvalidRecord(p, `${kind}: ${base.typeName} ${base.type} ${c.p.join('.')} (${corpus.messages[c.e]})`)
				checked++
			}
			assert.ok(seen.size > 0, `no ${kind} case in the corpus`)
		}
		assert.ok(checked >= 8)
	})
})

describe('stored rooms upgrade when tlsyncd restarts with a newer schema file (RC3)', { timeout: 120000, skip: onlyTlsyncd('--schema') }, () => {
	const dataDir = makeTempDir('tlsync-schema-upgrade-')
	const room = uniqueRoom('upgrade')
	const clients = []
	let server
	let created

	test('a room written under v1 of the sticker is served as v2 after the restart, to v1 and v2 clients', { timeout: 40000 }, async () => {
		try {
			server = await startServer({ dataDir, args: ['--schema', STICKER_V1_JSON] })
			const writer = await connectClient(server.roomUrl(room), { name: 'writer', schema: v1 })
			clients.push(writer)
			created = sticker(v1, { version: 1, text: 'stored under v1' })
			writer.put(created)
			await writer.settled()
			writer.close()
			assert.ok((await server.stop()).graceful)

			server = await startServer({ dataDir, args: ['--schema', STICKER_JSON] })
			const cur = await connectClient(server.roomUrl(room), { name: 'v2', schema: v2 })
			const old = await connectClient(server.roomUrl(room), { name: 'v1', schema: v1 })
			clients.push(cur, old)
			assert.equal(cur.get(created.id)?.props.caption, 'stored under v1')
			assert.equal('label' in cur.get(created.id).props, false)
			assert.equal(old.get(created.id)?.props.label, 'stored under v1')
		} catch (e) {
			if (server) process.stderr.write(`\n----- ${server.label} log tail -----\n${server.tail(60)}\n-----\n`)
			throw e
		}
	})

	// The copy is made by room_store::load(schema) when the room actor loads the room.
	test('the old state is kept under <data-dir>/rooms/backup/ before the migrated one is written', async () => {
		const dir = path.join(dataDir, 'rooms', 'backup')
		assert.ok(fs.existsSync(dir), `${dir} should exist`)
		const files = fs.readdirSync(dir)
		const backups = files.filter((f) => f.startsWith(`${room}.`) && f.endsWith('.sqlite'))
		assert.equal(backups.length, 1, `backups: ${files}`)
		// it holds the state from before the upgrade (records are JSON text in the file)
		const bytes = fs.readFileSync(path.join(dir, backups[0])).toString('latin1')
		assert.ok(bytes.includes('"label":"stored under v1"'), 'the backup has the v1 sticker')
		assert.ok(!bytes.includes('"caption":"stored under v1"'), 'the backup has no migrated sticker')
	})

	after(async () => {
		for (const c of clients) c.close()
		if (server) await server.stop()
	})
})
