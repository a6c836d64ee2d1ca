// Hostile or careless peers close only their own socket; connection churn leaks nothing.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { converged, sleep, waitFor } from './lib/client.mjs'
import { useServer, uniqueRoom } from './lib/harness.mjs'
import { RawPeer, withTimeout } from './lib/raw.mjs'
import { geoShape } from './lib/records.mjs'
import { isReference } from './lib/server.mjs'

const CHURN = Number(process.env.TLSYNC_CHURN_CONNECTIONS || 2000)
const CHURN_BATCH = 100
const RSS_SLACK_KIB = 30 * 1024

describe('robustness', { timeout: 120000 }, () => {
	const ctx = useServer()

	/** Two real clients in a room that keep syncing while `attack` runs on another socket. */
	async function bystanders() {
		const room = uniqueRoom()
		const a = await ctx.client(room, { name: 'alice' })
		const b = await ctx.client(room, { name: 'bob' })
		return {
			room,
			async stillSyncing() {
				const s = geoShape({ text: `alive ${Date.now()}` })
				a.put(s)
				await waitFor(() => b.get(s.id), { what: 'B to see A after the attack' })
				b.update(s.id, (r) => ({ ...r, x: 3 }))
				await waitFor(() => a.get(s.id)?.x === 3, { what: 'A to see B after the attack' })
				assert.equal(a.connectReplies().length, 1, 'bystander A was not disconnected')
				assert.equal(b.connectReplies().length, 1, 'bystander B was not disconnected')
			},
		}
	}

	for (const [name, send] of [
		['garbage text', (p) => p.sendRaw('this is not json {{{')],
		['a truncated JSON object', (p) => p.sendRaw('{"type":"push","clientClock":0,"diff":{')],
		['binary garbage', (p) => p.sendRaw(Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x81, 0x7b]), { binary: true })],
		['a JSON value that is not a message', (p) => p.sendRaw('{"type":42,"connectRequestId":[]}')],
	]) {
		test(`${name} after connect closes only that socket`, { timeout: 20000 }, async () => {
			const by = await bystanders()
			const p = await ctx.peer(by.room)
			await p.connect()
			send(p)
			const closed = await p.waitClosed(5000)
			assert.ok(closed.code !== 1000 || closed.reason, `closed ${closed.code} ${closed.reason}`)
			await by.stillSyncing()
		})
	}

	test('garbage as the very first frame closes only that socket', { timeout: 20000 }, async () => {
		const by = await bystanders()
		const p = await ctx.peer(by.room)
		p.sendRaw('garbage')
		await p.waitClosed(5000)
		await by.stillSyncing()
	})

	test('an oversized single frame (3 MiB > max frame 2 MiB) closes only that socket', { timeout: 20000 }, async () => {
		const by = await bystanders()
		const p = await ctx.peer(by.room)
		await p.connect()
		p.sendRaw('{"type":"ping","pad":"' + 'x'.repeat(3 << 20) + '"}')
		const closed = await p.waitClosed(8000)
		assert.notEqual(closed.code, 1000, `closed ${closed.code} ${closed.reason}`)
		await by.stillSyncing()
		assert.ok(await ctx.server.healthy())
	})

	test('non-websocket HTTP requests and bad upgrades are answered and do not hurt the server', { timeout: 20000 }, async () => {
		const by = await bystanders()
		const http = await import('node:http')
		const status = (path, headers = {}) =>
			new Promise((resolve, reject) => {
				const req = http.get({ host: '127.0.0.1', port: ctx.server.port, path, headers, timeout: 3000 }, (res) => {
					res.resume()
					resolve(res.statusCode)
				})
				req.on('timeout', () => req.destroy(new Error('timeout')))
				req.on('error', reject)
			})
		assert.equal(await status('/healthz'), 200)
		assert.ok((await status('/no/such/path')) >= 400)
		assert.ok((await status(`/connect/${by.room}`)) >= 400, 'plain GET of a room is not a websocket')
		const bad = new RawPeer(`${ctx.server.wsUrl}/not-a-room`)
		await assert.rejects(withTimeout(bad.opened, 5000, 'bad upgrade'))
		await by.stillSyncing()
	})

	test(`${CHURN} raw connections opened and dropped leave the server responsive${isReference ? '' : ' with RSS near baseline'}`, { timeout: 90000 }, async (t) => {
		const by = await bystanders()
		const rooms = Array.from({ length: 10 }, () => uniqueRoom('churn'))
		// warm up: allocator arenas, room load, one batch of connections
		await churn(rooms, CHURN_BATCH)
		await sleep(500)
		const baseline = isReference ? 0 : ctx.server.rssKiB()
		const t0 = Date.now()
		await churn(rooms, CHURN)
		t.diagnostic(`${CHURN} connections in ${Date.now() - t0} ms`)
		assert.ok(await ctx.server.healthy(), 'healthz after churn')
		await by.stillSyncing()
		if (isReference) {
			t.diagnostic('RSS check skipped: only meaningful for tlsyncd (the reference server is a GC runtime)')
			return
		}
		if (process.env.TLSYNC_IT_SANITIZED === '1') {
			// ASan keeps freed memory in its quarantine, so RSS does not come back;
			// LeakSanitizer at the server's exit checks for leaks instead.
			t.diagnostic('RSS check skipped: sanitizer build (leaks are LeakSanitizer\'s job)')
			return
		}
		// sessions linger AwaitingRemoval for 5 s and empty rooms for the unload delay: poll
		let rss = ctx.server.rssKiB()
		const peak = rss
		await waitFor(
			() => (rss = ctx.server.rssKiB()) <= baseline + RSS_SLACK_KIB,
			{ timeoutMs: 20000, intervalMs: 500, what: 'RSS back near baseline', describe: () => `baseline ${baseline} KiB, now ${rss} KiB (peak seen ${peak})` }
		)
		t.diagnostic(`RSS baseline ${baseline} KiB, after churn ${peak} KiB, settled ${rss} KiB`)
	})

	/**
	 * Open `total` connections to `rooms` in batches; in each batch a third just connect the
	 * websocket, a third also complete the sync handshake, and a third send half a chunked
	 * message; then a mix of close frames and abrupt TCP drops.
	 */
	async function churn(rooms, total) {
		for (let done = 0; done < total; done += CHURN_BATCH) {
			const n = Math.min(CHURN_BATCH, total - done)
			const peers = await Promise.all(
				Array.from({ length: n }, (_, i) =>
					RawPeer.open(ctx.server.roomUrl(rooms[(done + i) % rooms.length], { sessionId: `churn-${done + i}`, storeId: 's' }))
				)
			)
			await Promise.all(
				peers.map(async (p, i) => {
					if (i % 3 === 1) await p.connect({}, 10000)
					else if (i % 3 === 2) p.sendRaw('3_{"type":"connect",')
				})
			)
			peers.forEach((p, i) => (i % 2 ? p.terminate() : p.close()))
			await Promise.all(peers.map((p) => (p.closed ? null : withTimeout(p.closedPromise, 10000, 'churn close').catch(() => p.terminate()))))
		}
	}
})

describe('client sessions that go silent', { timeout: 60000 }, () => {
	// 8 s: above the real client's 5 s ping interval, so only the silent peer goes idle
	const ctx = useServer({ args: ['--session-idle-timeout', '8s'] })

	test('a connected peer that sends nothing is closed after the idle timeout; pinging clients stay (SES1 RC6)', { timeout: 30000 }, async (t) => {
		const room = uniqueRoom()
		const a = await ctx.client(room, { name: 'alice' })
		const silent = await ctx.peer(room)
		await silent.connect()
		silent.send({ type: 'push', clientClock: 0, presence: ['put', { ...a.presence.get(), userName: 'silent' }] })
		await waitFor(() => a.peers().silent, { what: 'the silent peer presence' })
		const t0 = Date.now()
		const closed = await silent.waitClosed(20000)
		t.diagnostic(`silent peer closed after ${Date.now() - t0} ms with ${closed.code} ${closed.reason}`)
		assert.ok(Date.now() - t0 >= 5000, 'not before the idle timeout')
		// its presence goes once the session is removed (SES3); alice is still connected
		await waitFor(() => !a.peers().silent, { timeoutMs: 10000, what: "the silent peer's presence to go" })
		assert.equal(a.connectReplies().length, 1, 'alice was never disconnected')
		const s = geoShape()
		a.put(s)
		await a.settled()
	})
})
