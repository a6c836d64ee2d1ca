// Data in --data-dir survives a graceful (SIGTERM) and an abrupt (SIGKILL) restart; clients
// connected across the restart reconnect by themselves.
import assert from 'node:assert/strict'
import { afterEach, describe, test } from 'node:test'
import { connectClient, converged, sleep, waitFor } from './lib/client.mjs'
import { uniqueRoom } from './lib/harness.mjs'
import { RawPeer } from './lib/raw.mjs'
import { geoShape, noteShape, shapeText, toRichText } from './lib/records.mjs'
import { dumpLogsOnFailure, makeTempDir, onlyTlsyncd, startServer } from './lib/server.mjs'

const FLUSH_WAIT_MS = 2000 // the server flushes within 1 s

describe('persistence across restarts', { timeout: 90000 }, () => {
	let servers = []
	let clients = []
	let peers = []
	afterEach(async (t) => {
		for (const s of servers) dumpLogsOnFailure(t, s)
		for (const c of clients.splice(0)) c.close()
		for (const p of peers.splice(0)) p.terminate()
		for (const s of servers.splice(0)) await s.stop({ graceMs: 5000 })
	})
	const start = async (opts) => {
		const s = await startServer(opts)
		servers.push(s)
		return s
	}
	const client = async (server, room, opts) => {
		const c = await connectClient(server.roomUrl(room), opts)
		clients.push(c)
		return c
	}

	/** Edits in two rooms: creates, an update, a delete, a text change. Returns what must survive. */
	async function makeEdits(server) {
		const roomA = uniqueRoom('persistA')
		const roomB = uniqueRoom('persistB')
		const a = await client(server, roomA, { name: 'alice' })
		const b = await client(server, roomB, { name: 'bob' })
		const keep = geoShape({ text: 'keep me' })
		const gone = geoShape({ text: 'delete me' })
		const note = noteShape({ text: 'v1' })
		a.put(keep, gone, note)
		await a.settled()
		a.update(keep.id, (s) => ({ ...s, x: 42, props: { ...s.props, color: 'green' } }))
		a.remove(gone.id)
		a.update(note.id, (s) => ({ ...s, props: { ...s.props, richText: toRichText('v1 then v2') } }))
		const other = geoShape({ text: 'room B' })
		b.put(other)
		await a.settled()
		await b.settled()
		return { roomA, roomB, a, b, keep, gone, note, other, docsA: a.documents(), clockA: a.lastServerClock }
	}

	async function checkSurvived(server, e) {
		const fresh = await client(server, e.roomA, { name: 'fresh' })
		assert.deepEqual(fresh.documents(), e.docsA, 'room A documents identical after restart')
		assert.equal(fresh.get(e.keep.id).x, 42)
		assert.equal(fresh.get(e.gone.id), undefined)
		assert.equal(shapeText(fresh.get(e.note.id)), 'v1 then v2')
		assert.ok(fresh.lastServerClock >= e.clockA, `document clock went backwards: ${fresh.lastServerClock} < ${e.clockA}`)
		const freshB = await client(server, e.roomB, { name: 'freshB' })
		assert.ok(freshB.get(e.other.id))
		assert.equal(freshB.get(e.keep.id), undefined)
		// a reconnect from before the restart gets an incremental reply that still knows the delete
		const p = await RawPeer.open(server.roomUrl(e.roomA, { sessionId: 'raw-old', storeId: 'x' }))
		peers.push(p)
		const reply = await p.connect({ lastServerClock: 0 })
		if (reply.hydrationType === 'wipe_presence') {
			assert.deepEqual(reply.diff[e.gone.id], ['remove'], 'tombstone survived the restart')
		} else {
			assert.equal(reply.diff[e.gone.id], undefined)
		}
	}

	test('SIGTERM flushes, closes sockets with 1012, exits 0; a restart on the same dir serves the data', { timeout: 40000 }, async () => {
		const dataDir = makeTempDir()
		const s1 = await start({ dataDir })
		const e = await makeEdits(s1)
		const watcher = await RawPeer.open(s1.roomUrl(e.roomA, { sessionId: 'raw-watch', storeId: 'x' }))
		peers.push(watcher)
		await watcher.connect({ lastServerClock: e.clockA })
		const stopped = await s1.stop({ graceMs: 12000 })
		assert.deepEqual({ code: stopped.code, signal: stopped.signal, graceful: stopped.graceful }, { code: 0, signal: null, graceful: true })
		const closed = await watcher.waitClosed(1000)
		assert.equal(closed.code, 1012, `sockets closed with ${closed.code} ${closed.reason}`)

		const s2 = await start({ dataDir, port: s1.port })
		await checkSurvived(s2, e)

		// the real clients that were connected reconnect to the new process by themselves
		await waitFor(() => e.a.connectReplies().length >= 2 && e.a.client.isConnectedToRoom, {
			timeoutMs: 10000,
			what: 'alice to reconnect after the restart',
		})
		assert.ok(e.a.sent.filter((m) => m.msg.type === 'connect').at(-1).msg.lastServerClock >= e.clockA)
		const after = geoShape({ text: 'after restart' })
		e.a.put(after)
		const fresh = clients.find((c) => c.name === 'fresh')
		await converged([e.a, fresh], { check: (c) => !!c.get(after.id) })
	})

	test('SIGKILL after the flush interval loses nothing', { timeout: 40000 }, async () => {
		const dataDir = makeTempDir()
		const s1 = await start({ dataDir })
		const e = await makeEdits(s1)
		await sleep(FLUSH_WAIT_MS)
		await s1.kill()
		for (const c of clients) c.close()
		const s2 = await start({ dataDir })
		await checkSurvived(s2, e)
	})

	test(
		'--durability fsync: an edit acknowledged the moment before SIGKILL is there after the restart',
		{ timeout: 40000, skip: onlyTlsyncd('--durability') },
		async () => {
			const dataDir = makeTempDir()
			// A 10 s flush interval: without --durability fsync the kill would lose the edit.
			const args = ['--durability', 'fsync', '--flush-interval', '10s']
			const s1 = await start({ dataDir, args })
			const room = uniqueRoom('durable')
			const p = await RawPeer.open(s1.roomUrl(room, { sessionId: 'durable-peer', storeId: 'raw' }))
			peers.push(p)
			await p.connect()
			const shape = geoShape({ text: 'acknowledged' })
			const result = await p.push({ diff: { [shape.id]: ['put', shape] } })
			assert.equal(result.action, 'commit')
			await s1.kill()
			for (const c of clients) c.close()
			const s2 = await start({ dataDir, args })
			const fresh = await client(s2, room, { name: 'fresh' })
			await waitFor(() => shapeText(fresh.get(shape.id)) === 'acknowledged', { what: 'the acknowledged shape after SIGKILL', timeoutMs: 10000 })
		}
	)

	test('an unchanged room is identical after two restarts (no drift in records or clock)', { timeout: 40000 }, async () => {
		const dataDir = makeTempDir()
		const s1 = await start({ dataDir })
		const e = await makeEdits(s1)
		await s1.stop()
		const s2 = await start({ dataDir })
		const p2 = await RawPeer.open(s2.roomUrl(e.roomA, { sessionId: 'r2', storeId: 'x' }))
		peers.push(p2)
		const r2 = await p2.connect()
		p2.terminate()
		await s2.stop()
		const s3 = await start({ dataDir })
		const p3 = await RawPeer.open(s3.roomUrl(e.roomA, { sessionId: 'r3', storeId: 'x' }))
		peers.push(p3)
		const r3 = await p3.connect()
		assert.equal(r3.serverClock, r2.serverClock)
		assert.deepEqual(r3.diff, r2.diff)
	})
})
