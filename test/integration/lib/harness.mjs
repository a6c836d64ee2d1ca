// Per-file test scaffolding: one server per describe block, clients/peers closed after
// each test, the server's log tail printed when a test fails.
import { before, after, afterEach } from 'node:test'
import { connectClient, SyncTestClient } from './client.mjs'
import { RawPeer } from './raw.mjs'
import { startServer, dumpLogsOnFailure } from './server.mjs'

let roomCounter = 0
export function uniqueRoom(prefix = 'room') {
	return `${prefix}-${process.pid}-${++roomCounter}-${Math.random().toString(36).slice(2, 8)}`
}

/**
 * Call inside a describe(): starts a server before the block's tests and stops it after.
 * Returns an object whose fields are filled in as tests run.
 */
export function useServer(serverOpts = {}) {
	const ctx = {
		server: null,
		clients: [],
		peers: [],
		/** Connect a real client to `roomId` and wait until it is in the room. opts.params: extra query. */
		async client(roomId, opts = {}) {
			const c = await connectClient(ctx.server.roomUrl(roomId, opts.params), opts)
			ctx.clients.push(c)
			return c
		},
		/** A real client that is not awaited (e.g. expected to fail). */
		clientNoWait(roomId, opts = {}) {
			const c = new SyncTestClient(ctx.server.roomUrl(roomId, opts.params), opts)
			ctx.clients.push(c)
			return c
		},
		/** A raw websocket peer on `roomId` (params: sessionId, storeId, ...). */
		async peer(roomId, params = {}, wsOptions) {
			const p = await RawPeer.open(
				ctx.server.roomUrl(roomId, { sessionId: `raw-${Math.random().toString(36).slice(2)}`, storeId: 'raw', ...params }),
				wsOptions
			)
			ctx.peers.push(p)
			return p
		},
	}
	before(async () => {
		ctx.server = await startServer(typeof serverOpts === 'function' ? serverOpts() : serverOpts)
	})
	afterEach((t) => {
		dumpLogsOnFailure(t, ctx.server)
		for (const c of ctx.clients.splice(0)) c.close()
		for (const p of ctx.peers.splice(0)) p.terminate()
	})
	after(async () => {
		if (ctx.server) {
			const res = await ctx.server.stop()
			if (!res.graceful) process.stderr.write(`warning: ${ctx.server.label} needed SIGKILL to stop\n`)
		}
	})
	return ctx
}
