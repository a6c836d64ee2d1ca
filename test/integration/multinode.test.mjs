// Several tlsyncd nodes behind nginx or HAProxy (scripts/load-balancer),
// rooms stored in one PostgreSQL (--storage): the real tldraw client, through
// the proxy, meets the other clients of its room on one node; rooms spread
// over the nodes; a node killed (SIGKILL: once its leases expire) or drained
// (SIGTERM: it releases them at once) hands its rooms
// to the others, the clients reconnect by themselves, nothing flushed is
// lost, and the write log (tlsync_room_write) shows one writer at a time per
// room. docs/SCALING.md. Skipped, with the reason, where PostgreSQL or the
// proxy cannot be installed.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, afterEach, before, describe, test } from 'node:test'
import { connectClient, converged, waitFor } from './lib/client.mjs'
import { uniqueRoom } from './lib/harness.mjs'
import { LOAD_BALANCER, startBalancer } from './lib/load-balancer.mjs'
import { cluster, createDatabase, psql, startCluster, stopCluster } from './lib/pg-cluster.mjs'
import { RawPeer } from './lib/raw.mjs'
import { geoShape } from './lib/records.mjs'
import { dumpLogsOnFailure, makeSelfSignedCert, makeTempDir, onlyTlsyncd, startServer } from './lib/server.mjs'
import { setClientTlsOptions } from './lib/shims.mjs'

// A killed node's rooms wait this long for its leases to expire.
const LEASE_MS = 3000
const repo = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

describe('several tlsyncd nodes behind a load balancer', { timeout: 300000 }, () => {
	let conninfo
	let nodes = []
	let clients = []
	let balancers = []
	before(() => {
		if (onlyTlsyncd('--storage')) return
		startCluster()
		if (!cluster.skip) conninfo = createDatabase('it_multinode')
	})
	after(stopCluster)
	afterEach(async (t) => {
		for (const s of nodes) dumpLogsOnFailure(t, s)
		for (const c of clients.splice(0)) c.close()
		for (const lb of balancers.splice(0)) lb.stop()
		await Promise.all(nodes.splice(0).map((s) => s.stop({ graceMs: 5000 })))
		setClientTlsOptions({})
	})
	const skip = (t) => {
		const why = onlyTlsyncd('--storage') ?? cluster.skip
		if (why) t.skip(why)
		return Boolean(why)
	}
	// Three nodes, each with a data dir of its own: only Postgres is shared.
	const startNodes = async (n = 3, extra = []) => {
		const started = await Promise.all(
			Array.from({ length: n }, (_, i) =>
				startServer({
					dataDir: makeTempDir(),
					args: [
						...['--storage', conninfo, '--node-id', `node-${i + 1}`, '--flush-interval', '100ms', '--lease-duration', `${LEASE_MS}ms`],
						...extra,
					],
				})
			)
		)
		nodes.push(...started)
		return started
	}
	const balancer = (t, kind, over, opts) => {
		const lb = startBalancer(kind, over, opts)
		if (lb.skip) {
			t.skip(lb.skip)
			return null
		}
		balancers.push(lb)
		return lb
	}
	const client = async (url, opts) => {
		const c = await connectClient(url, opts)
		clients.push(c)
		return c
	}
	const quote = (s) => `'${s.replaceAll("'", "''")}'`
	// The room's committed writes in commit order: [{ writer, clock }].
	const writes = (room) =>
		psql(conninfo, `SELECT writer, document_clock FROM tlsync_room_write WHERE room_id = ${quote(room)} ORDER BY written_at, document_clock`).map(
			(l) => {
				const [writer, clock] = l.split('|')
				return { writer, clock: Number(clock) }
			}
		)
	const storedIds = (room) => psql(conninfo, `SELECT id FROM tlsync_room_document WHERE room_id = ${quote(room)}`)
	const flushed = (room, id, timeoutMs = 5000) =>
		waitFor(() => storedIds(room).includes(id), { timeoutMs, what: `${id} of ${room} to be flushed` })
	// Never two writers at once: the clock never goes back from one write to
	// the next, and (unless the room may move back, `mayReturn`) a node that
	// handed the room over never writes it again. Returns the writers in turn.
	const assertOneWriterAtATime = (room, { mayReturn = false } = {}) => {
		const w = writes(room)
		assert.ok(w.length > 0, `no writes of ${room}`)
		const seen = [w[0].writer]
		for (let i = 1; i < w.length; i++) {
			assert.ok(w[i].clock >= w[i - 1].clock, `${room}: clock went back at write ${i}: ${JSON.stringify(w)}`)
			if (w[i].writer !== seen.at(-1)) {
				if (!mayReturn)
					assert.ok(!seen.includes(w[i].writer), `${room}: ${w[i].writer} wrote again after ${seen.at(-1)}: ${JSON.stringify(w)}`)
				seen.push(w[i].writer)
			}
		}
		return seen
	}
	const ownerOf = (room) => writes(room).at(-1)?.writer
	const nodeNamed = (name) => nodes.find((s) => s.args().includes(name))
	// Waits until `c` noticed that its socket went (after `since`) and is in the room again.
	const reconnected = async (c, since, timeoutMs) => {
		await waitFor(() => c.statuses.some((s) => s.at >= since && s.status !== 'online'), {
			timeoutMs,
			what: `${c.name} to notice the lost connection`,
		})
		await waitFor(() => c.statuses.some((s) => s.at >= since && s.status === 'online') && c.client.isConnectedToRoom, {
			timeoutMs,
			what: `${c.name} to reconnect`,
			describe: () => `statuses=${JSON.stringify(c.statuses.filter((s) => s.at >= since))} errors=${JSON.stringify(c.syncErrors)}`,
		})
	}

	// Three nodes behind nginx, alice and bob in a new room with a shape that
	// is flushed; the node that wrote it owns the room.
	const twoClientsOnThreeNodes = async (t, prefix, text) => {
		const lb = balancer(t, 'nginx', await startNodes())
		if (!lb) return null
		const room = uniqueRoom(prefix)
		const alice = await client(lb.roomUrl(room), { name: 'alice' })
		const bob = await client(lb.roomUrl(room), { name: 'bob' })
		const before = geoShape({ text })
		alice.put(before)
		await converged([alice, bob], { check: (c) => c.get(before.id) !== undefined })
		await flushed(room, before.id)
		return { lb, room, alice, bob, before, owner: ownerOf(room) }
	}

	for (const kind of ['nginx', 'haproxy']) {
		test(`${kind}: a room's clients meet on one node and converge; rooms spread over the nodes`, async (t) => {
			if (skip(t)) return
			const three = await startNodes()
			const lb = balancer(t, kind, three)
			if (!lb) return
			const room = uniqueRoom(`lb-${kind}`)
			const alice = await client(lb.roomUrl(room), { name: 'alice' })
			const bob = await client(lb.roomUrl(room), { name: 'bob' })
			const shape = geoShape({ text: `through ${kind}` })
			alice.put(shape)
			await converged([alice, bob], { check: (c) => c.get(shape.id) !== undefined })

			const rooms = Array.from({ length: 12 }, (_, i) => uniqueRoom(`lb-${kind}-${i}`))
			const shapes = []
			for (const r of rooms) {
				const c = await client(lb.roomUrl(r), { name: `c-${r}` })
				const s = geoShape({ text: r })
				c.put(s)
				await c.settled()
				shapes.push(s)
			}
			await flushed(room, shape.id)
			for (const [i, r] of rooms.entries()) await flushed(r, shapes[i].id)
			const owners = new Set()
			for (const r of [room, ...rooms]) {
				const writers = assertOneWriterAtATime(r)
				assert.equal(writers.length, 1, `${r} was written by ${writers}`)
				owners.add(writers[0])
			}
			// 13 rooms over 3 nodes on a hash ring: all on one node would be a broken key.
			assert.ok(owners.size >= 2, `every room on ${[...owners]}`)
			// Uploads live in their node's data dir: a GET must reach the node the
			// PUT stored it on, which routing by the upload id does.
			for (let i = 0; i < 6; i++) {
				const id = `${kind}Upload${i}${Date.now()}`
				const body = Buffer.from(`png bytes ${i}`)
				const put = await fetch(`${lb.httpUrl}/uploads/${id}`, { method: 'PUT', body, headers: { 'content-type': 'image/png' } })
				assert.equal(put.status, 201, `PUT /uploads/${id}: ${await put.text()}`)
				const got = await fetch(`${lb.httpUrl}/uploads/${id}`)
				assert.equal(got.status, 200, `GET /uploads/${id} through ${kind}`)
				assert.deepEqual(Buffer.from(await got.arrayBuffer()), body)
			}
			t.diagnostic(`${kind}: 13 rooms over ${owners.size} nodes: ${[...owners].sort().join(', ')}`)
		})
	}

	test('nginx terminates TLS: clients sync over wss:// through it to plain-HTTP nodes', async (t) => {
		if (skip(t)) return
		const three = await startNodes()
		const tls = makeSelfSignedCert(makeTempDir())
		const lb = balancer(t, 'nginx', three, { tls })
		if (!lb) return
		setClientTlsOptions({ ca: fs.readFileSync(tls.cert) })
		const room = uniqueRoom('lb-tls')
		const alice = await client(lb.roomUrl(room), { name: 'alice' })
		const bob = await client(lb.roomUrl(room), { name: 'bob' })
		assert.match(lb.roomUrl(room), /^wss:/)
		const shape = geoShape({ text: 'over TLS' })
		bob.put(shape)
		await converged([alice, bob], { check: (c) => c.get(shape.id) !== undefined })
	})

	test('a node killed (SIGKILL): another serves its rooms, clients reconnect by themselves, nothing flushed is lost', async (t) => {
		if (skip(t)) return
		const setup = await twoClientsOnThreeNodes(t, 'lb-kill', 'flushed before the kill')
		if (!setup) return
		const { room, alice, bob, before, owner } = setup
		const victim = nodeNamed(owner)
		assert.ok(victim, `owner ${owner} is one of ours`)
		const t0 = Date.now()
		await victim.kill()
		await Promise.all([reconnected(alice, t0, 60000), reconnected(bob, t0, 60000)])
		const took = Date.now() - t0
		// The lease must expire first; then the client's own retry backoff.
		assert.ok(took < LEASE_MS + 8000, `clients back ${took} ms after the kill`)
		assert.ok(alice.get(before.id), 'the flushed shape is still there')
		const afterwards = geoShape({ text: 'after the kill' })
		bob.put(afterwards)
		await converged([alice, bob], { check: (c) => c.get(afterwards.id) !== undefined && c.get(before.id) !== undefined })
		await flushed(room, afterwards.id)
		const writers = assertOneWriterAtATime(room)
		assert.equal(writers[0], owner)
		assert.ok(writers.length === 2 && writers[1] !== owner, `written by ${writers}`)
		t.diagnostic(`room moved from ${owner} to ${writers[1]}; clients back in the room ${took} ms after the kill`)
	})

	test('a drained node (SIGTERM) hands its rooms over with no error shown to clients', async (t) => {
		if (skip(t)) return
		const setup = await twoClientsOnThreeNodes(t, 'lb-drain', 'before the drain')
		if (!setup) return
		const { room, alice, bob, before, owner } = setup
		const t0 = Date.now()
		const stopped = await nodeNamed(owner).stop({ graceMs: 10000 })
		assert.equal(stopped.graceful, true, 'the drained node exited within its grace time')
		await Promise.all([reconnected(alice, t0, 30000), reconnected(bob, t0, 30000)])
		const took = Date.now() - t0
		const afterwards = geoShape({ text: 'after the drain' })
		alice.put(afterwards)
		await converged([alice, bob], { check: (c) => c.get(afterwards.id) !== undefined && c.get(before.id) !== undefined })
		await flushed(room, afterwards.id)
		assert.deepEqual(alice.syncErrors, [], 'alice was shown no error')
		assert.deepEqual(bob.syncErrors, [], 'bob was shown no error')
		const writers = assertOneWriterAtATime(room)
		assert.ok(writers.length === 2 && writers[0] === owner, `written by ${writers}`)
		t.diagnostic(`room moved from ${owner} to ${writers[1]}; clients back in the room ${took} ms after SIGTERM`)
	})

	// A rolling restart: the drained node comes back with the same id, the
	// proxy sends the room's new clients to it again, while the node that took
	// the room over still serves the old ones. Nobody may be locked out: the
	// room moves back, and everyone meets on one node.
	// The returning node is refused the lease at first and marks it wanted;
	// the holder hands the room over at a renewal once it has held it for a
	// lease duration (docs/SCALING.md, "Rolling restarts").
	test('a node back after a drain gets its rooms back; new clients are not locked out', async (t) => {
		if (skip(t)) return
		const setup = await twoClientsOnThreeNodes(t, 'lb-back', 'before the restart')
		if (!setup) return
		const { room, alice, bob, before, owner } = setup
		const home = nodeNamed(owner)
		const t0 = Date.now()
		await home.stop({ graceMs: 10000 })
		await Promise.all([reconnected(alice, t0, 30000), reconnected(bob, t0, 30000)])
		// An edit while the other node holds the room, so that it writes too.
		const meanwhile = geoShape({ text: 'while away' })
		bob.put(meanwhile)
		await converged([alice, bob], { check: (c) => c.get(meanwhile.id) !== undefined })
		await flushed(room, meanwhile.id)
		const stand_in = ownerOf(room)
		assert.notEqual(stand_in, owner)
		await home.start()
		// nginx leaves a failed node out for fail_timeout (5 s): after that the
		// ring sends the room to its home node again.
		await new Promise((r) => setTimeout(r, 6000))
		const t1 = Date.now()
		// connectClient waits 8 s; the holder hands over after holding the room
		// a lease duration, then the clients' reconnects meet on the home node.
		const carol = await client(setup.lb.roomUrl(room), { name: 'carol' })
		const took = Date.now() - t1
		const late = geoShape({ text: 'from the late joiner' })
		carol.put(late)
		await converged([alice, bob, carol], {
			timeoutMs: 15000,
			check: (c) => c.get(late.id) !== undefined && c.get(before.id) !== undefined && c.get(meanwhile.id) !== undefined,
		})
		await flushed(room, late.id)
		for (const c of [alice, bob, carol]) assert.deepEqual(c.syncErrors, [], `${c.name} was shown no error`)
		const writers = assertOneWriterAtATime(room, { mayReturn: true })
		assert.deepEqual(writers, [owner, stand_in, owner], 'home, the stand-in, home again')
		t.diagnostic(`writers in turn: ${writers.join(' -> ')}; the late joiner was in ${took} ms`)
	})

	// --postgres on every node: each replicates on a slot of its own (named
	// after its --node-id) and registers it; user sockets reach a node through
	// the proxy (hashed on the user id) and get their rows' changes from it.
	test('each node replicates on its own slot; users connected through the proxy get their changes', async (t) => {
		if (skip(t)) return
		const app = createDatabase('it_multinode_app')
		const three = await startNodes(3, ['--postgres', app, '--app-users-insecure'])
		const lb = balancer(t, 'nginx', three)
		if (!lb) return
		const slots = () =>
			psql(app, `SELECT s.slot_name || ' ' || n.node_id FROM pg_replication_slots s JOIN tlsync_replicator_slot n USING (slot_name) WHERE s.active ORDER BY 1`)
		await waitFor(() => slots().length === 3, { timeoutMs: 30000, what: 'three active, registered slots', describe: () => slots().join('; ') })
		const bySlot = slots()
		assert.deepEqual(bySlot.map((l) => l.split(' ')[1]).sort(), ['node-1', 'node-2', 'node-3'])
		for (const l of bySlot) assert.match(l, /^tlsync_node_\d_[0-9a-f]{8} /, 'a slot per node, named after it')

		const users = Array.from({ length: 8 }, (_, i) => `mn-user-${i}`)
		psql(app, `INSERT INTO "user" (id, name, "createdAt", "updatedAt") VALUES ${users.map((u) => `('${u}', '${u}', 1, 1)`).join(', ')};`)
		const peers = users.map((u) => new RawPeer(`${lb.wsUrl}/app/${u}/connect`))
		try {
			for (const p of peers) await p.next((m) => m.type === 'initial_data' || m.type === 'hello', 10000)
			psql(app, users.map((u) => `INSERT INTO file (id, "ownerId", name, "publishedSlug", "createdAt", "updatedAt") VALUES ('f-${u}', '${u}', 'x', 's-${u}', 1, 1);`).join('\n'))
			for (const [i, p] of peers.entries()) {
				const got = await p.next((m) => m.type === 'changes' && m.changes.some((c) => c.table === 'file' && c.row?.id === `f-${users[i]}`), 10000)
				// Only its own file: each node sends a user the rows that concern it.
				const files = got.changes.filter((c) => c.table === 'file').map((c) => c.row.id)
				assert.deepEqual(files, [`f-${users[i]}`])
			}
		} finally {
			for (const p of peers) p.close()
		}
		t.diagnostic(`slots: ${bySlot.join('; ')}`)
	})

	test('the configurations in docs/deploy are what scripts/load-balancer writes', () => {
		const three = ['--node', '10.0.0.1:8080', '--node', '10.0.0.2:8080', '--node', '10.0.0.3:8080']
		for (const [file, args] of [
			['nginx-tlsync.conf', ['config', 'nginx', ...three, '--listen', '80']],
			['haproxy-tlsync.cfg', ['config', 'haproxy', ...three, '--listen', '80']],
		]) {
			const made = execFileSync(LOAD_BALANCER, args, { encoding: 'utf8' })
			const kept = fs.readFileSync(path.join(repo, 'docs', 'deploy', file), 'utf8')
			assert.equal(kept, made, `docs/deploy/${file} is stale: regenerate it with scripts/load-balancer ${args.join(' ')}`)
		}
	})
})
