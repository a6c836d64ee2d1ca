// Cheap websocket clients for tests that open thousands of connections: a plain TCP
// socket, a handwritten upgrade request, and just enough framing to send text, answer
// pings, notice close frames and hand each text message (as a Buffer, unparsed) to a
// callback. Client frames use the all-zero mask key, so a payload is sent as is.
import net from 'node:net'

// Any 16 bytes, base64: the server only checks the form of the key.
const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ=='

/** A masked client frame (mask key 0: the payload goes unchanged). */
export function clientFrame(opcode, payload) {
	const len = payload.length
	let head
	if (len < 126) {
		head = Buffer.alloc(6)
		head[1] = 0x80 | len
	} else if (len < 65536) {
		head = Buffer.alloc(8)
		head[1] = 0x80 | 126
		head.writeUInt16BE(len, 2)
	} else {
		head = Buffer.alloc(14)
		head[1] = 0x80 | 127
		head.writeBigUInt64BE(BigInt(len), 2)
	}
	head[0] = 0x80 | opcode
	return Buffer.concat([head, payload])
}

export const textFrame = (text) => clientFrame(0x1, Buffer.from(text))

export class LeanSocket {
	/**
	 * Opens `ws://host:port/path`; resolves once the server answered 101.
	 * onText(buffer, socket) is called for each complete text message.
	 */
	static open({ host = '127.0.0.1', port, path, onText = () => {}, timeoutMs = 10000 }) {
		const s = new LeanSocket(onText)
		return s._open(host, port, path, timeoutMs).then(() => s)
	}

	constructor(onText) {
		this.onText = onText
		this.socket = null
		this.upgraded = false
		this.answerPings = true
		this.closeCode = null // from the server's close frame
		this.ended = false // the TCP connection is gone
		this.received = 0 // text messages
		this._buf = Buffer.alloc(0)
		this._parts = [] // fragments of the message being received
		this.endedPromise = new Promise((resolve) => (this._resolveEnded = resolve))
	}

	_open(host, port, path, timeoutMs) {
		return new Promise((resolve, reject) => {
			const socket = net.connect({ host, port })
			this.socket = socket
			socket.setNoDelay(true)
			const timer = setTimeout(() => fail(new Error(`no upgrade within ${timeoutMs} ms`)), timeoutMs)
			const fail = (e) => {
				clearTimeout(timer)
				socket.destroy()
				reject(e)
			}
			socket.once('connect', () => {
				socket.write(
					`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
						`Sec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`
				)
			})
			socket.on('data', (chunk) => {
				this._buf = this._buf.length ? Buffer.concat([this._buf, chunk]) : chunk
				if (!this.upgraded) {
					const end = this._buf.indexOf('\r\n\r\n')
					if (end < 0) return
					const status = this._buf.subarray(0, this._buf.indexOf('\r\n')).toString()
					if (!/^HTTP\/1\.1 101 /.test(status)) return fail(new Error(`upgrade refused: ${status}`))
					this.upgraded = true
					this._buf = this._buf.subarray(end + 4)
					clearTimeout(timer)
					resolve()
				}
				this._parse()
			})
			socket.on('error', (e) => {
				if (!this.upgraded) fail(e)
			})
			socket.on('close', () => {
				this.ended = true
				if (!this.upgraded) fail(new Error('closed before the upgrade'))
				this._resolveEnded()
			})
		})
	}

	_parse() {
		for (;;) {
			const b = this._buf
			if (b.length < 2) return
			if (b[1] & 0x80) throw new Error('the server masked a frame')
			let len = b[1] & 0x7f
			let at = 2
			if (len === 126) {
				if (b.length < 4) return
				len = b.readUInt16BE(2)
				at = 4
			} else if (len === 127) {
				if (b.length < 10) return
				len = Number(b.readBigUInt64BE(2))
				at = 10
			}
			if (b.length < at + len) return
			const fin = b[0] & 0x80
			const opcode = b[0] & 0x0f
			const payload = b.subarray(at, at + len)
			this._buf = b.subarray(at + len)
			if (opcode === 0x9) {
				if (this.answerPings) this.socket.write(clientFrame(0xa, payload))
			} else if (opcode === 0x8) {
				this.closeCode = len >= 2 ? payload.readUInt16BE(0) : 1005
				this.socket.end(clientFrame(0x8, payload.subarray(0, 2)))
			} else if (opcode === 0x1 || opcode === 0x0) {
				this._parts.push(payload)
				if (fin) {
					const msg = this._parts.length === 1 ? this._parts[0] : Buffer.concat(this._parts)
					this._parts = []
					this.received++
					this.onText(msg, this)
				}
			}
		}
	}

	send(text) {
		this.socket.write(textFrame(text))
	}

	/** Write an already built frame (one buffer shared by many sockets). */
	sendFrame(frame) {
		this.socket.write(frame)
	}

	/** A close frame, as a polite client would; resolves when the TCP connection is gone. */
	close(code = 1000) {
		const p = Buffer.alloc(2)
		p.writeUInt16BE(code)
		this.socket.write(clientFrame(0x8, p))
		return this.endedPromise
	}

	/** Gone without a close frame: FIN (or RST when unread data is pending). */
	drop() {
		this.socket.destroy()
	}

	/** Gone with a TCP reset. */
	reset() {
		this.socket.resetAndDestroy()
	}

	/**
	 * A peer that vanished (pulled cable, sleeping laptop): the socket stays open but
	 * nothing is read or answered, pings included, until destroy().
	 */
	vanish() {
		this.answerPings = false
		this.socket.pause()
	}
}
