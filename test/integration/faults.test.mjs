// Faults around the data directory, with real files: a disk that fills up
// under a running room. The data directory is a small tmpfs mounted for the
// test (root and mount(8) needed; skipped, and said so, where they are not).
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { afterEach, describe, test } from 'node:test'
import { connectClient, waitFor } from './lib/client.mjs'
import { uniqueRoom } from './lib/harness.mjs'
import { RawPeer } from './lib/raw.mjs'
import { geoShape, shapeText } from './lib/records.mjs'
import { dumpLogsOnFailure, makeTempDir, onlyTlsyncd, startServer } from './lib/server.mjs'

/** Mounts a tmpfs of `size` at a fresh directory; null when this machine does not let us. */
function mountSmallDisk(size) {
	const dir = makeTempDir('tlsync-disk-')
	try {
		execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' })
		return dir
	} catch {
		fs.rmSync(dir, { recursive: true, force: true })
		return null
	}
}

/** Writes zeros into `file` until the file system refuses more. */
function fillDisk(file) {
	const block = Buffer.alloc(64 * 1024)
	const fd = fs.openSync(file, 'w')
	try {
		for (;;) fs.writeSync(fd, block)
	} catch (e) {
		if (e.code !== 'ENOSPC') throw e
	} finally {
		fs.closeSync(fd)
	}
}

const canMount = (() => {
	const dir = mountSmallDisk('64k')
	if (!dir) return false
	execFileSync('umount', [dir])
	fs.rmSync(dir, { recursive: true, force: true })
	return true
})()

describe('data directory faults', { timeout: 90000 }, () => {
	const servers = []
	const peers = []
	const clients = []
	const mounts = []
	afterEach(async (t) => {
		for (const s of servers) dumpLogsOnFailure(t, s)
		for (const c of clients.splice(0)) c.close()
		for (const p of peers.splice(0)) p.terminate()
		for (const s of servers.splice(0)) await s.stop({ graceMs: 5000 })
		for (const m of mounts.splice(0)) {
			try {
				execFileSync('umount', [m])
			} catch {}
			fs.rmSync(m, { recursive: true, force: true })
		}
	})
	const open = async (server, room, sessionId) => {
		const p = await RawPeer.open(server.roomUrl(room, { sessionId, storeId: sessionId }))
		peers.push(p)
		return p
	}

	test(
		'a full disk turns the room read-only: reads go on, nothing acknowledged is lost, and edits resume once space is back',
		{ timeout: 60000, skip: onlyTlsyncd('read-only on storage failure') ?? (canMount ? undefined : 'cannot mount a tmpfs here (needs root)') },
		async () => {
			const dataDir = mountSmallDisk('2m')
			mounts.push(dataDir)
			const args = ['--flush-interval', '100ms'] // read-only after 10 failed intervals (1 s)
			const s1 = await startServer({ dataDir, args })
			servers.push(s1)
			const room = uniqueRoom('full')
			const a = await open(s1, room, 'writer')
			await a.connect()
			const saved = geoShape({ text: 'saved before the disk filled' })
			assert.equal((await a.push({ diff: { [saved.id]: ['put', saved] } })).action, 'commit')
			await new Promise((r) => setTimeout(r, 500)) // flushed

			fillDisk(path.join(dataDir, 'filler'))
			// Acknowledged (write-behind) but the flush cannot write it: big enough to need new pages.
			const pending = geoShape({ text: 'x'.repeat(64 * 1024) })
			assert.equal((await a.push({ diff: { [pending.id]: ['put', pending] } })).action, 'commit')
			const closed = await a.waitClosed(10000)
			assert.equal(closed.code, 1011)
			assert.match(closed.reason, /storage unavailable/)

			// Reads go on: a new session sees everything, read-only, and its edit is refused.
			const b = await open(s1, room, 'reader')
			const hello = await b.connect()
			assert.equal(hello.isReadonly, true)
			assert.ok(hello.diff[saved.id] && hello.diff[pending.id], 'the reader sees both shapes')
			const refused = geoShape({ text: 'refused' })
			const r = await b.push({ diff: { [refused.id]: ['put', refused] } })
			assert.notEqual(r.action, 'commit')

			// Space is back: the room's next flush writes, and read-only sessions are sent to reconnect.
			fs.rmSync(path.join(dataDir, 'filler'))
			const again = await b.waitClosed(40000)
			assert.equal(again.code, 1012)
			const c = await open(s1, room, 'writer-again')
			const back = await c.connect()
			assert.equal(back.isReadonly, false)
			const after = geoShape({ text: 'after the disk came back' })
			assert.equal((await c.push({ diff: { [after.id]: ['put', after] } })).action, 'commit')

			// Nothing lost, nothing corrupted: a restart on the same files has all three.
			await s1.stop({ graceMs: 5000 })
			servers.splice(0)
			const s2 = await startServer({ dataDir })
			servers.push(s2)
			const fresh = await connectClient(s2.roomUrl(room), { name: 'fresh' })
			clients.push(fresh)
			await waitFor(() => fresh.get(saved.id) && fresh.get(pending.id) && fresh.get(after.id), {
				what: 'all three shapes after the restart',
				timeoutMs: 10000,
			})
			assert.equal(shapeText(fresh.get(after.id)), 'after the disk came back')
			assert.equal(shapeText(fresh.get(pending.id)).length, 64 * 1024)
		}
	)
})
