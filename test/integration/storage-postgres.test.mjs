// --storage postgres://...: rooms kept in PostgreSQL rather than in files.
// The real tldraw client edits a room on one tlsyncd; another tlsyncd, with
// its own (empty) --data-dir and the same database, serves the room after
// the first stopped (SIGTERM), and after one was killed (SIGKILL) once its
// flush had committed. Every flush is logged with its writer in
// tlsync_room_write. Skipped, with the reason, where PostgreSQL cannot be
// installed (pg-test-cluster exits 77).
import assert from 'node:assert/strict'
import { after, afterEach, before, describe, test } from 'node:test'
import { connectClient, waitFor } from './lib/client.mjs'
import { uniqueRoom } from './lib/harness.mjs'
import { cluster, createDatabase, psql, startCluster, stopCluster } from './lib/pg-cluster.mjs'
import { geoShape, shapeText, toRichText } from './lib/records.mjs'
import { dumpLogsOnFailure, makeTempDir, onlyTlsyncd, startServer } from './lib/server.mjs'

describe('rooms stored in PostgreSQL', { timeout: 120000 }, () => {
	let conninfo
	let servers = []
	let clients = []
	before(() => {
		if (onlyTlsyncd('--storage')) return
		startCluster()
		if (!cluster.skip) conninfo = createDatabase('it_storage')
	})
	after(stopCluster)
	afterEach(async (t) => {
		for (const s of servers) dumpLogsOnFailure(t, s)
		for (const c of clients.splice(0)) c.close()
		for (const s of servers.splice(0)) await s.stop({ graceMs: 5000 })
	})
	const skip = (t) => {
		const why = onlyTlsyncd('--storage') ?? cluster.skip
		if (why) t.skip(why)
		return Boolean(why)
	}
	// Each node with a data dir of its own: nothing but Postgres is shared.
	const node = async (name) => {
		const s = await startServer({ dataDir: makeTempDir(), args: ['--storage', conninfo, '--node-id', name, '--flush-interval', '100ms'] })
		servers.push(s)
		return s
	}
	const client = async (server, room, opts) => {
		const c = await connectClient(server.roomUrl(room), opts)
		clients.push(c)
		return c
	}
	const stored = (room, id) =>
		psql(conninfo, `SELECT state FROM tlsync_room_document WHERE room_id = '${room}' AND id = '${id}'`)[0]

	test('a room edited on one node is served by another after SIGTERM', async (t) => {
		if (skip(t)) return
		const room = uniqueRoom('pgstore')
		const a = await node('node-a')
		const alice = await client(a, room, { name: 'alice' })
		const keep = geoShape({ text: 'kept in postgres' })
		const gone = geoShape({ text: 'deleted' })
		alice.put(keep, gone)
		await alice.settled()
		alice.update(keep.id, (s) => ({ ...s, x: 42, props: { ...s.props, richText: toRichText('kept, then edited') } }))
		alice.remove(gone.id)
		await alice.settled()
		const docs = alice.documents()
		const stopped = await a.stop({ graceMs: 10000 })
		assert.equal(stopped.graceful, true)

		const b = await node('node-b')
		const bob = await client(b, room, { name: 'bob' })
		assert.deepEqual(bob.documents(), docs, 'the room as node-a left it')
		assert.equal(bob.get(keep.id).x, 42)
		assert.equal(shapeText(bob.get(keep.id)), 'kept, then edited')
		assert.equal(bob.get(gone.id), undefined)
		const writers = psql(conninfo, `SELECT DISTINCT writer FROM tlsync_room_write WHERE room_id = '${room}' ORDER BY 1`)
		assert.deepEqual(writers, ['node-a'], 'node-b only read the room')
	})

	test('a flushed edit survives SIGKILL and loads on another node', async (t) => {
		if (skip(t)) return
		const room = uniqueRoom('pgkill')
		const a = await node('node-k')
		const alice = await client(a, room, { name: 'alice' })
		const shape = geoShape({ text: 'before the kill' })
		alice.put(shape)
		await alice.settled()
		await waitFor(() => stored(room, shape.id) !== undefined, { timeoutMs: 5000, what: 'the flush to commit' })
		await a.kill()

		const b = await node('node-l')
		const bob = await client(b, room, { name: 'bob' })
		assert.equal(shapeText(bob.get(shape.id)), 'before the kill')
	})
})
