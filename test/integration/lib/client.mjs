// Driver for the real tldraw sync client (TLSyncClient + ClientWebSocketAdapter from
// @tldraw/sync-core 5.4.2) running headless in Node.
import './shims.mjs'
import { atom } from '@tldraw/state'
import { Store } from '@tldraw/store'
import { ClientWebSocketAdapter, TLSyncClient } from '@tldraw/sync-core'
import { isDeepStrictEqual } from 'node:util'
import { presenceRecord, schema } from './records.mjs'

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

let storeCounter = 0

/**
 * Poll `predicate` until it returns a truthy value (returned) or `timeoutMs` passes (throws
 * with `describe()` in the message).
 */
export async function waitFor(predicate, { timeoutMs = 5000, intervalMs = 10, what = 'condition', describe } = {}) {
	const deadline = Date.now() + timeoutMs
	let last
	for (;;) {
		try {
			last = await predicate()
			if (last) return last
		} catch (e) {
			last = e
		}
		if (Date.now() > deadline) {
			const detail = describe ? describe() : last instanceof Error ? last.message : ''
			throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? ': ' + detail : ''}`)
		}
		await sleep(intervalMs)
	}
}

export class SyncTestClient {
	/**
	 * @param {string} url  websocket URL of the room, without sessionId/storeId
	 * @param {object} opts  name (user name), sessionId, presence (bool, default true), schema
	 */
	constructor(url, { name = `user${++storeCounter}`, sessionId, presence = true, schema: storeSchema = schema } = {}) {
		this.name = name
		this.sessionId = sessionId ?? `${name}-${Math.random().toString(36).slice(2, 10)}`
		this.storeId = `store-${name}-${++storeCounter}`
		this.baseUrl = url
		this.received = [] // every server message, in order: { at, msg }
		this.sent = [] // every client message (before chunking)
		this.statuses = []
		this.syncErrors = []
		this.loaded = false

		this.store = new Store({
			schema: storeSchema,
			props: { defaultName: '', assets: {}, users: {}, onMount() {} },
		})
		const sep = url.includes('?') ? '&' : '?'
		this.socket = new ClientWebSocketAdapter(
			() => `${url}${sep}sessionId=${encodeURIComponent(this.sessionId)}&storeId=${encodeURIComponent(this.storeId)}`
		)
		this.socket.onReceiveMessage((msg) => this.received.push({ at: Date.now(), msg }))
		this.socket.onStatusChange((ev) => this.statuses.push({ at: Date.now(), ...ev }))
		const send = this.socket.sendMessage.bind(this.socket)
		this.socket.sendMessage = (msg) => {
			this.sent.push({ at: Date.now(), msg })
			return send(msg)
		}

		this.presence = atom('presence', presence ? presenceRecord({ name }) : null)
		this.presenceMode = atom('presenceMode', 'full')
		this.client = new TLSyncClient({
			store: this.store,
			socket: this.socket,
			presence: this.presence,
			presenceMode: this.presenceMode,
			onLoad: () => {
				this.loaded = true
			},
			onSyncError: (reason) => {
				// the sync client closes itself; close the adapter too, or it would reconnect (as useSync does)
				this.syncErrors.push(reason)
				queueMicrotask(() => this.close())
			},
		})
	}

	/** Resolves once connected to the room (connect reply applied). */
	async connected(timeoutMs = 8000) {
		await waitFor(() => this.client.isConnectedToRoom, {
			timeoutMs,
			what: `${this.name} to connect`,
			describe: () => `statuses=${JSON.stringify(this.statuses)} errors=${JSON.stringify(this.syncErrors)}`,
		})
		return this
	}

	connectReplies() {
		return this.received.filter((r) => r.msg.type === 'connect').map((r) => r.msg)
	}

	/** Apply a local user edit and hand it to the sync client now (not on the next frame). */
	edit(fn) {
		fn(this.store)
		this.store._flushHistory()
	}

	put(...records) {
		this.edit((s) => s.put(records))
	}
	update(id, updater) {
		this.edit((s) => s.update(id, updater))
	}
	remove(...ids) {
		this.edit((s) => s.remove(ids))
	}
	get(id) {
		return this.store.get(id)
	}

	setCursor(x, y) {
		const prev = this.presence.get()
		this.presence.set({ ...prev, cursor: { ...prev.cursor, x, y } })
	}

	/** Presence records of other users, keyed by userName. */
	peers() {
		const out = {}
		for (const r of Object.values(this.store.serialize('presence'))) out[r.userName] = r
		return out
	}

	/** Documents in the local store, keyed by id. */
	documents() {
		return this.store.serialize('document')
	}
	shapes() {
		return Object.values(this.documents()).filter((r) => r.typeName === 'shape')
	}

	/** No local change is waiting to be sent or acknowledged. */
	isSettled() {
		const c = this.client
		return (
			c.isConnectedToRoom &&
			c.pendingPushRequests.length === 0 &&
			!c.unsentChanges.nextDiff &&
			c.incomingDiffBuffer.length === 0
		)
	}

	async settled(timeoutMs = 5000) {
		this.store._flushHistory()
		await waitFor(() => this.isSettled(), { timeoutMs, what: `${this.name} to settle` })
	}

	/** Restart the socket (the client reconnects with its lastServerClock after ~0.5 s). */
	restartSocket() {
		this.socket.restart()
	}

	/** Drop the TCP connection abruptly, without a close frame. */
	dropSocket() {
		this.socket._ws?._terminate()
	}

	get lastServerClock() {
		return this.client.lastServerClock
	}

	close() {
		try {
			this.client.close()
		} catch {}
		try {
			this.socket.close()
		} catch {}
	}
}

/** Connect a client to `url` and wait until it is in the room. */
export async function connectClient(url, opts) {
	const c = new SyncTestClient(url, opts)
	try {
		await c.connected()
	} catch (e) {
		c.close()
		throw e
	}
	return c
}

/**
 * Wait until every client is settled and all hold identical documents; optionally also
 * until `check(client)` holds for each.
 */
export async function converged(clients, { timeoutMs = 8000, check } = {}) {
	await waitFor(
		() => {
			if (!clients.every((c) => c.isSettled())) return false
			const first = clients[0].documents()
			if (!clients.every((c) => isDeepStrictEqual(c.documents(), first))) return false
			return check ? clients.every((c) => check(c)) : true
		},
		{
			timeoutMs,
			what: 'clients to converge',
			describe: () =>
				clients
					.map((c) => `${c.name}: settled=${c.isSettled()} docs=${Object.keys(c.documents()).length} errors=${c.syncErrors}`)
					.join('; '),
		}
	)
}
