#!/usr/bin/env node
// Reference sync server: tldraw's own TLSocketRoom behind the URL scheme and command line of
// tlsyncd, so the integration tests (and benchmarks) can run against the TypeScript
// implementation. Not a product: one process, rooms kept in memory, persisted as JSON
// snapshots (Node 20 has no node:sqlite; better-sqlite3 needs a native build).
//
//   node reference-server.mjs --host 127.0.0.1 --port 5858 --data-dir DIR
//        [--tls-cert F --tls-key F] [--flush-interval 500ms] [--session-idle-timeout 20s]
//        [--max-frame-bytes N] [--room-unload-delay 5s]
//
// GET /healthz -> 200 "ok"; websocket at /connect/{roomId}?sessionId=..&storeId=..
// (extension: `readonly=1` connects the session read-only). SIGTERM/SIGINT: flush every room,
// close sockets with 1012, exit 0. Unknown flags are ignored with a warning.
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'
import { InMemorySyncStorage, TLSocketRoom } from '@tldraw/sync-core'
import { WebSocketServer } from 'ws'

function parseDuration(flag, v) {
	const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v)
	if (!m) fail(`${flag}: expected a duration like 500ms or 2s, got '${v}'`)
	const n = Number(m[1])
	return m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60000 : n
}

function fail(msg) {
	process.stderr.write(`reference-server: ${msg}\n`)
	process.exit(2)
}

const cfg = {
	host: '127.0.0.1',
	port: 5858,
	dataDir: './data',
	tlsCert: '',
	tlsKey: '',
	flushInterval: 500,
	sessionIdleTimeout: 20000,
	maxFrameBytes: 2 << 20,
	roomUnloadDelay: 5000,
}
{
	const args = process.argv.slice(2)
	for (let i = 0; i < args.length; i++) {
		let [flag, value] = args[i].split(/=(.*)/s)
		const take = () => (value !== undefined ? value : (args[++i] ?? fail(`${flag}: missing value`)))
		switch (flag) {
			case '--host': cfg.host = take(); break
			case '--port': cfg.port = Number(take()); break
			case '--data-dir': cfg.dataDir = take(); break
			case '--tls-cert': cfg.tlsCert = take(); break
			case '--tls-key': cfg.tlsKey = take(); break
			case '--flush-interval': cfg.flushInterval = parseDuration(flag, take()); break
			case '--session-idle-timeout': cfg.sessionIdleTimeout = parseDuration(flag, take()); break
			case '--max-frame-bytes': cfg.maxFrameBytes = Number(take()); break
			case '--room-unload-delay': cfg.roomUnloadDelay = parseDuration(flag, take()); break
			default:
				if (flag.startsWith('--') && value === undefined && args[i + 1] && !args[i + 1].startsWith('--')) i++
				process.stderr.write(`reference-server: ignoring unsupported flag ${flag}\n`)
		}
	}
}

const roomsDir = path.join(cfg.dataDir, 'rooms')
fs.mkdirSync(roomsDir, { recursive: true })

const log = (...a) => process.stderr.write(`${new Date().toISOString()} ${a.join(' ')}\n`)

/** roomId -> { room, storage, dirty, flushTimer, unloadTimer, file } */
const rooms = new Map()

function roomFile(roomId) {
	return path.join(roomsDir, encodeURIComponent(roomId) + '.json')
}

function flushRoom(entry) {
	if (entry.flushTimer) clearTimeout(entry.flushTimer)
	entry.flushTimer = null
	if (!entry.dirty) return
	entry.dirty = false
	const tmp = entry.file + '.tmp'
	fs.writeFileSync(tmp, JSON.stringify(entry.storage.getSnapshot()))
	fs.renameSync(tmp, entry.file)
}

function getRoom(roomId) {
	let entry = rooms.get(roomId)
	if (entry) {
		if (entry.unloadTimer) clearTimeout(entry.unloadTimer)
		entry.unloadTimer = null
		return entry
	}
	const file = roomFile(roomId)
	const snapshot = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : undefined
	const storage = new InMemorySyncStorage(snapshot ? { snapshot } : {})
	entry = { storage, dirty: false, flushTimer: null, unloadTimer: null, file }
	storage.onChange(() => {
		entry.dirty = true
		if (!entry.flushTimer) entry.flushTimer = setTimeout(() => flushRoom(entry), cfg.flushInterval)
	})
	entry.room = new TLSocketRoom({
		storage,
		clientTimeout: cfg.sessionIdleTimeout,
		log: { warn: (...a) => log('warn', roomId, ...a), error: (...a) => log('error', roomId, ...a) },
		onSessionRemoved(_room, { numSessionsRemaining }) {
			if (numSessionsRemaining > 0 || entry.unloadTimer) return
			entry.unloadTimer = setTimeout(() => {
				if (entry.room.getNumActiveSessions() > 0) return
				flushRoom(entry)
				entry.room.close()
				rooms.delete(roomId)
			}, cfg.roomUnloadDelay)
		},
	})
	rooms.set(roomId, entry)
	return entry
}

function onRequest(req, res) {
	const url = new URL(req.url, 'http://x')
	if (req.method === 'GET' && url.pathname === '/healthz') {
		res.writeHead(200, { 'content-type': 'text/plain' })
		res.end('ok')
		return
	}
	res.writeHead(404, { 'content-type': 'text/plain' })
	res.end('not found')
}

const tls = cfg.tlsCert && cfg.tlsKey
const server = tls
	? https.createServer({ cert: fs.readFileSync(cfg.tlsCert), key: fs.readFileSync(cfg.tlsKey) }, onRequest)
	: http.createServer(onRequest)

const wss = new WebSocketServer({ noServer: true, maxPayload: cfg.maxFrameBytes })

server.on('upgrade', (req, socket, head) => {
	const url = new URL(req.url, 'http://x')
	const m = /^\/connect\/([^/]+)$/.exec(url.pathname)
	if (!m) {
		socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n')
		return
	}
	const roomId = decodeURIComponent(m[1])
	const sessionId = url.searchParams.get('sessionId') || crypto.randomUUID()
	const isReadonly = ['1', 'true'].includes(url.searchParams.get('readonly') ?? '')
	wss.handleUpgrade(req, socket, head, (ws) => {
		ws.on('error', () => {}) // e.g. 1009 on an oversized frame; TLSocketRoom sees the close
		getRoom(roomId).room.handleSocketConnect({ sessionId, socket: ws, isReadonly })
	})
})

let stopping = false
function shutdown(sig) {
	if (stopping) return
	stopping = true
	log(`${sig}: flushing ${rooms.size} room(s) and closing sockets`)
	for (const entry of rooms.values()) flushRoom(entry)
	for (const ws of wss.clients) ws.close(1012, 'service restart')
	server.close()
	// give close frames a moment to leave, then go
	setTimeout(() => {
		for (const ws of wss.clients) ws.terminate()
		process.exit(0)
	}, 200).unref()
	setTimeout(() => process.exit(0), 1000)
}
process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))

server.listen(cfg.port, cfg.host, () => {
	const { address, port } = server.address()
	log(`reference-server listening on ${address}:${port}${tls ? ' (tls)' : ''}`)
})
