// Browser globals that @tldraw/sync-core's ClientWebSocketAdapter and TLSyncClient expect,
// installed once per process. See /work/shared/reference/tldraw-client-notes.md.
import { WebSocket as NodeWebSocket } from 'ws'

// Options for wss:// connections made through the shim (tests with a self-signed cert set `ca`).
let tlsOptions = {}
export function setClientTlsOptions(opts) {
	tlsOptions = { ...opts }
}

// The real client is written against the browser WebSocket. `ws` delivers frames that were
// already buffered after close() is called; browsers do not, and the adapter asserts on it,
// so messages are dropped once the socket is no longer OPEN.
class ShimWebSocket {
	static CONNECTING = 0
	static OPEN = 1
	static CLOSING = 2
	static CLOSED = 3

	constructor(url) {
		this.url = url
		this.onopen = null
		this.onmessage = null
		this.onclose = null
		this.onerror = null
		this.sentFrames = [] // lengths of the frames sent, for tests
		this.sentChunkFrames = 0 // frames that were `N_...` chunks
		const opts = url.startsWith('wss:') ? { ...tlsOptions } : {}
		this._ws = new NodeWebSocket(url, opts)
		this._ws.onopen = (ev) => this.onopen?.(ev)
		this._ws.onmessage = (ev) => {
			if (this._ws.readyState !== NodeWebSocket.OPEN) return
			this.onmessage?.(ev)
		}
		this._ws.onclose = (ev) => this.onclose?.(ev)
		this._ws.onerror = (ev) => this.onerror?.(ev)
		ShimWebSocket.live.add(this)
		this._ws.once('close', () => ShimWebSocket.live.delete(this))
	}
	get readyState() {
		return this._ws.readyState
	}
	send(data) {
		this.sentFrames.push(typeof data === 'string' ? data.length : data.byteLength)
		this.sentChunkFrames += typeof data === 'string' && /^\d+_/.test(data.slice(0, 12)) ? 1 : 0
		this._ws.send(data)
	}
	close(code, reason) {
		this._ws.close(code, reason)
	}
	/** Tests only: drop the TCP connection without a close handshake. */
	_terminate() {
		this._ws.terminate()
	}
}
ShimWebSocket.live = new Set()

let installed = false
export function installShims() {
	if (installed) return
	installed = true
	globalThis.WebSocket = ShimWebSocket
	const win = new EventTarget()
	win.devicePixelRatio = 1
	globalThis.window = win
	const doc = new EventTarget()
	doc.hidden = false
	doc.visibilityState = 'visible'
	globalThis.document = doc
	if (!('navigator' in globalThis)) globalThis.navigator = {}
	globalThis.requestAnimationFrame = (cb) => setTimeout(() => cb(performance.now()), 16)
	globalThis.cancelAnimationFrame = (id) => clearTimeout(id)
}

installShims()

export { ShimWebSocket }
