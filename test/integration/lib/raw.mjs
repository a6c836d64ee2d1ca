// Raw websocket peer for protocol-level tests: sends exactly what the test says (optionally
// chunked like the real client), records every frame received and how the socket closed.
import { chunk, getTlsyncProtocolVersion } from '@tldraw/sync-core'
import { WebSocket } from 'ws'
import { schema } from './records.mjs'

export const PROTOCOL_VERSION = getTlsyncProtocolVersion()
export const SERIALIZED_SCHEMA = schema.serialize()

let counter = 0

export class RawPeer {
	/**
	 * @param {string} url  full websocket URL (with query)
	 * @param {object} wsOptions  options for `ws` (e.g. { ca } for wss)
	 */
	constructor(url, wsOptions = {}) {
		this.url = url
		this.messages = [] // parsed JSON frames (or { _unparsed: text })
		this.waiters = new Set()
		this.closed = null // { code, reason, wasClean }
		this.error = null
		this.clientClock = 0
		this.ws = new WebSocket(url, { perMessageDeflate: false, ...wsOptions })
		this.opened = new Promise((resolve, reject) => {
			this.ws.once('open', resolve)
			this.ws.once('error', reject)
			this.ws.once('close', (code) => reject(new Error(`closed (${code}) before open`)))
		})
		this.opened.catch(() => {})
		this.ws.on('error', (e) => {
			this.error = e
		})
		this.ws.on('message', (data, isBinary) => {
			const text = data.toString()
			let msg
			try {
				msg = JSON.parse(text)
			} catch {
				msg = { _unparsed: text, isBinary }
			}
			this.messages.push(msg)
			this._wake()
		})
		this.closedPromise = new Promise((resolve) => {
			this.ws.once('close', (code, reason) => {
				this.closed = { code, reason: reason.toString() }
				this._wake()
				resolve(this.closed)
			})
		})
	}

	_wake() {
		for (const w of [...this.waiters]) w()
	}

	static async open(url, wsOptions) {
		const p = new RawPeer(url, wsOptions)
		await withTimeout(p.opened, 5000, `websocket open ${url}`)
		return p
	}

	sendRaw(data, opts) {
		this.ws.send(data, opts)
	}

	/** JSON-encode and send, chunked like the real client (262144-char chunks) unless chunked=false. */
	send(msg, { chunked = true } = {}) {
		const text = JSON.stringify(msg)
		for (const part of chunked ? chunk(text) : [text]) this.ws.send(part)
	}

	connectMessage({ lastServerClock = -1, protocolVersion = PROTOCOL_VERSION, schema = SERIALIZED_SCHEMA } = {}) {
		return {
			type: 'connect',
			connectRequestId: `raw-${++counter}`,
			lastServerClock,
			protocolVersion,
			schema,
		}
	}

	/** Send connect and wait for the reply (`connect` message). */
	async connect(opts = {}, timeoutMs = 5000) {
		const msg = this.connectMessage(opts)
		this.send(msg)
		const reply = await this.next((m) => m.type === 'connect', timeoutMs)
		if (reply.connectRequestId !== msg.connectRequestId) throw new Error('connectRequestId not echoed')
		return reply
	}

	/**
	 * Send a push and wait for its push_result (from a `data` message or a bare one).
	 * Returns { result, serverClock }.
	 */
	async push({ diff, presence }, timeoutMs = 10000) {
		const clientClock = this.clientClock++
		const msg = { type: 'push', clientClock }
		if (diff) msg.diff = diff
		if (presence) msg.presence = presence
		this.send(msg)
		let found
		await this.waitUntil(() => {
			found = this.dataEvents().find((e) => e.type === 'push_result' && e.clientClock === clientClock)
			return !!found
		}, timeoutMs, `push_result for clientClock ${clientClock}`)
		return found
	}

	/** Every data event (patch/push_result) received so far, unwrapped from `data` messages. */
	dataEvents() {
		const out = []
		for (const m of this.messages) {
			if (m.type === 'data') out.push(...m.data)
			else if (m.type === 'patch' || m.type === 'push_result') out.push(m)
		}
		return out
	}

	/** The highest serverClock seen in connect/data events. */
	lastServerClock() {
		let clock = -1
		for (const m of this.messages) {
			if (m.type === 'connect') clock = Math.max(clock, m.serverClock)
		}
		for (const e of this.dataEvents()) if (typeof e.serverClock === 'number') clock = Math.max(clock, e.serverClock)
		return clock
	}

	/** Wait for the first received message (in arrival order) matching `pred`, from index `from`. */
	async next(pred = () => true, timeoutMs = 5000, from = 0) {
		let found
		await this.waitUntil(() => {
			found = this.messages.slice(from).find(pred)
			return found !== undefined
		}, timeoutMs, 'a matching message')
		return found
	}

	waitUntil(cond, timeoutMs, what) {
		return new Promise((resolve, reject) => {
			const check = () => {
				let ok
				try {
					ok = cond()
				} catch (e) {
					done()
					reject(e)
					return
				}
				if (ok) {
					done()
					resolve()
				} else if (this.closed) {
					done()
					reject(
						new Error(
							`socket closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}; ` +
								`received: ${this.describe()}`
						)
					)
				}
			}
			const timer = setTimeout(() => {
				done()
				reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received: ${this.describe()}`))
			}, timeoutMs)
			const done = () => {
				clearTimeout(timer)
				this.waiters.delete(check)
			}
			this.waiters.add(check)
			check()
		})
	}

	/** Wait for the socket to close; returns { code, reason }. */
	async waitClosed(timeoutMs = 5000) {
		return withTimeout(this.closedPromise, timeoutMs, `socket close (received: ${this.describe()})`)
	}

	describe() {
		return JSON.stringify(this.messages.map((m) => m.type ?? m)).slice(0, 600)
	}

	close(code, reason) {
		try {
			this.ws.close(code, reason)
		} catch {}
	}

	terminate() {
		this.ws.terminate()
	}
}

export function withTimeout(promise, ms, what) {
	let timer
	return Promise.race([
		promise,
		new Promise((_, reject) => {
			timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
		}),
	]).finally(() => clearTimeout(timer))
}

/** Network diff helpers. */
export const put = (record) => ['put', record]
export const patch = (objectDiff) => ['patch', objectDiff]
export const remove = () => ['remove']
