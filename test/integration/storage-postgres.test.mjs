// --storage postgres://...: rooms kept in PostgreSQL rather than in files.
// The real tldraw client edits a room on one tlsyncd; another tlsyncd, with
// its own (empty) --data-dir and the same database, serves the room after
// the first stopped (SIGTERM), and after one was killed (SIGKILL) once its
// flush had committed (once its lease expired). A client of a node for a room
// another node holds is refused (1013) and retries by itself, and lands once
// the owner drains (docs/SCALING.md). Every flush is logged with its writer in
// tlsync_room_write. Skipped, with the reason, where PostgreSQL cannot be
// installed (pg-test-cluster exits 77).
import assert from 'node:assert/strict'
import { after, afterEach, before, describe, test } from 'node:test'
import { SyncTestClient, connectClient, waitFor } from './lib/client.mjs'
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
	// Short leases: a killed node's rooms are free again within 2 s.
	const leaseMs = 2000
	const node = async (name) => {
		const s = await startServer({
			dataDir: makeTempDir(),
			args: ['--storage', conninfo, '--node-id', name, '--flush-interval', '100ms', '--lease-duration', `${leaseMs}ms`],
		})
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

		const killedAt = Date.now()

		const b = await node('node-l')
		const bob = await client(b, room, { name: 'bob' })
		assert.equal(shapeText(bob.get(shape.id)), 'before the kill')
		t.diagnostic(`served by node-l ${Date.now() - killedAt} ms after the kill (lease ${leaseMs} ms)`)
		const writers = psql(conninfo, `SELECT DISTINCT writer FROM tlsync_room_write WHERE room_id = '${room}' ORDER BY 1`)
		assert.deepEqual(writers, ['node-k'])
	})

	test('a client of a node that does not own the room retries by itself and lands when the owner drains', async (t) => {
		if (skip(t)) return
		const room = uniqueRoom('pglease')
		const a = await node('node-owner')
		const b = await node('node-other')
		const alice = await client(a, room, { name: 'alice' })
		const shape = geoShape({ text: 'made on the owner' })
		alice.put(shape)
		await alice.settled()

		// Bob reaches the other node: refused with 1013, never a sync error; he retries.
		const bob = new SyncTestClient(b.roomUrl(room), { name: 'bob' })
		clients.push(bob)
		await waitFor(() => bob.statuses.filter((s) => s.status === 'offline').length >= 3, {
			timeoutMs: 8000,
			what: 'bob to be refused a few times',
		})
		assert.equal(bob.client.isConnectedToRoom, false)
		assert.deepEqual(bob.syncErrors, [])
		const owner = psql(conninfo, `SELECT owner FROM tlsync_room_lease WHERE room_id = '${room}'`)[0]
		assert.equal(owner, 'node-owner')

		// An edit made on the owner while bob waits.
		const late = geoShape({ text: 'made while bob waited' })
		alice.put(late)
		await alice.settled()
		const t0 = Date.now()
		const stopped = await a.stop({ graceMs: 10000 })
		assert.equal(stopped.graceful, true)
		await bob.connected(8000)
		t.diagnostic(`bob in the room on node-other ${Date.now() - t0} ms after SIGTERM to the owner`)
		assert.equal(shapeText(bob.get(shape.id)), 'made on the owner')
		assert.equal(shapeText(bob.get(late.id)), 'made while bob waited')
		assert.deepEqual(bob.syncErrors, [])
		assert.deepEqual(alice.syncErrors, [], 'alice was sent away retryably, not with an error')

		// Bob writes on the new owner; the log shows one writer, then the other.
		const mine = geoShape({ text: 'made by bob' })
		bob.put(mine)
		await bob.settled()
		await waitFor(() => stored(room, mine.id) !== undefined, { timeoutMs: 5000, what: "bob's flush" })
		const runs = psql(
			conninfo,
			`SELECT writer FROM tlsync_room_write WHERE room_id = '${room}' ORDER BY document_clock, written_at`
		).filter((w, i, all) => i === 0 || all[i - 1] !== w)
		assert.deepEqual(runs, ['node-owner', 'node-other'])
	})
})
