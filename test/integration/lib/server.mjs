// Starts the server under test -- tlsyncd (TLSYNC_SERVER=/path/to/tlsyncd) or the Node reference
// server (TLSYNC_REFERENCE=1, the default when TLSYNC_SERVER is unset) -- on a free loopback port
// with a temporary data dir, waits for GET /healthz, captures its logs, and stops it.
import { spawn, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
export const REFERENCE_SERVER = path.join(here, '..', 'reference-server.mjs')

export const serverBinary = process.env.TLSYNC_REFERENCE === '1' ? '' : process.env.TLSYNC_SERVER || ''
export const isReference = !serverBinary
export const serverKind = isReference ? 'reference' : 'tlsyncd'

/** Skip reason for tests that only make sense against tlsyncd (or undefined to run). */
export function onlyTlsyncd(what) {
	return isReference ? `tlsyncd-specific (${what}); running against the reference server` : undefined
}

/** A fresh directory under TLSYNC_IT_TMP (set and removed by scripts/integration-test) or the OS temp dir. */
export function makeTempDir(prefix = 'tlsync-it-') {
	return fs.mkdtempSync(path.join(process.env.TLSYNC_IT_TMP || os.tmpdir(), prefix))
}

/** A port the kernel just handed out on 127.0.0.1 (closed again, so there is a tiny race). */
export async function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer()
		srv.unref()
		srv.on('error', reject)
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address()
			srv.close(() => resolve(port))
		})
	})
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Self-signed cert/key for CN=localhost in `dir`. */
export function makeSelfSignedCert(dir) {
	const cert = path.join(dir, 'cert.pem')
	const key = path.join(dir, 'key.pem')
	execFileSync(
		'openssl',
		['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
			'-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert],
		{ stdio: 'ignore', timeout: 20000 }
	)
	return { cert, key }
}

async function httpGet(url, { timeoutMs = 1000, ca } = {}) {
	const mod = url.startsWith('https:') ? await import('node:https') : await import('node:http')
	return new Promise((resolve, reject) => {
		const req = mod.get(url, { timeout: timeoutMs, ca, rejectUnauthorized: !!ca }, (res) => {
			let body = ''
			res.setEncoding('utf8')
			res.on('data', (d) => (body += d))
			res.on('end', () => resolve({ status: res.statusCode, body }))
		})
		req.on('timeout', () => req.destroy(new Error('timeout')))
		req.on('error', reject)
	})
}

const HARNESS_ENV = /^TLSYNC_(SERVER|SERVER_ARGS|REFERENCE|READONLY_PARAM|CHURN_CONNECTIONS|HALF_DROP_CONNECTIONS|IT_.*)$/

// Never leave a server behind, even when a test file dies without running its after() hooks.
const live = new Set()
process.on('exit', () => {
	for (const p of live) {
		try {
			p.kill('SIGKILL')
		} catch {}
	}
})

export class ServerProcess {
	constructor({ dataDir, port, tls, extraArgs, env, label }) {
		this.dataDir = dataDir
		this.port = port
		this.tls = tls // { cert, key } or null
		this.extraArgs = extraArgs
		this.env = env
		this.label = label
		this.logs = ''
		this.proc = null
		this.exit = null // { code, signal } once exited
	}

	get host() {
		return '127.0.0.1'
	}
	get httpUrl() {
		return `${this.tls ? 'https' : 'http'}://${this.host}:${this.port}`
	}
	get wsUrl() {
		return `${this.tls ? 'wss' : 'ws'}://${this.host}:${this.port}`
	}
	get pid() {
		return this.proc?.pid
	}
	roomUrl(roomId, params = {}) {
		const q = new URLSearchParams(params).toString()
		return `${this.wsUrl}/connect/${encodeURIComponent(roomId)}${q ? '?' + q : ''}`
	}

	args() {
		const args = ['--host', this.host, '--port', String(this.port), '--data-dir', this.dataDir]
		if (this.tls) args.push('--tls-cert', this.tls.cert, '--tls-key', this.tls.key)
		return [...args, ...this.extraArgs]
	}

	async start({ readyTimeoutMs = 15000 } = {}) {
		const [cmd, argv] = isReference
			? [process.execPath, [REFERENCE_SERVER, ...this.args()]]
			: [serverBinary, this.args()]
		this.logs += `$ ${cmd} ${argv.join(' ')}\n`
		this.exit = null
		// the harness's own TLSYNC_* knobs are not server settings (tlsyncd reads TLSYNC_* env vars)
		const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !HARNESS_ENV.test(k)))
		const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, ...this.env } })
		this.proc = proc
		live.add(proc)
		const append = (d) => {
			this.logs += d
			if (this.logs.length > 4_000_000) this.logs = this.logs.slice(-2_000_000)
		}
		proc.stdout.setEncoding('utf8').on('data', append)
		proc.stderr.setEncoding('utf8').on('data', append)
		this.exited = new Promise((resolve) => {
			proc.on('exit', (code, signal) => {
				live.delete(proc)
				this.exit = { code, signal }
				resolve(this.exit)
			})
		})
		proc.on('error', (e) => append(`spawn error: ${e.message}\n`))

		const deadline = Date.now() + readyTimeoutMs
		const requestedPort = this.port
		while (Date.now() < deadline) {
			if (this.exit) {
				throw new Error(`${this.label} exited during startup (${JSON.stringify(this.exit)}):\n${this.tail()}`)
			}
			if (requestedPort === 0) {
				// --port 0: the kernel picks; learn it from the `listening on host:port` log line
				const m = /listening on [^\s:]+:(\d+)/.exec(this.logs)
				if (!m) {
					await sleep(20)
					continue
				}
				this.port = Number(m[1])
			}
			try {
				const res = await httpGet(`${this.httpUrl}/healthz`, { ca: this.tls ? fs.readFileSync(this.tls.cert) : undefined })
				if (res.status === 200) {
					this.healthz = res.body
					return this
				}
			} catch {}
			await sleep(50)
		}
		await this.kill()
		throw new Error(`${this.label} not healthy within ${readyTimeoutMs} ms:\n${this.tail()}`)
	}

	/** The `listening on host:port` line, if the server logged one. */
	listeningLine() {
		return this.logs.split('\n').find((l) => /listening on \S+:\d+/.test(l))
	}

	tail(n = 40) {
		return this.logs.split('\n').slice(-n).join('\n')
	}

	/** SIGTERM, wait up to `graceMs`, then SIGKILL. Returns { code, signal, graceful, ms }. */
	async stop({ graceMs = 10000 } = {}) {
		if (!this.proc || this.exit) return { ...this.exit, graceful: true, ms: 0 }
		const t0 = Date.now()
		this.proc.kill('SIGTERM')
		let timer
		const res = await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(() => r(null), graceMs)))])
		clearTimeout(timer)
		if (res) return { ...res, graceful: true, ms: Date.now() - t0 }
		this.logs += `\n[harness] no exit ${graceMs} ms after SIGTERM; sending SIGKILL\n`
		this.proc.kill('SIGKILL')
		const killed = await this.exited
		return { ...killed, graceful: false, ms: Date.now() - t0 }
	}

	async kill() {
		if (!this.proc || this.exit) return this.exit
		this.proc.kill('SIGKILL')
		return this.exited
	}

	/** VmRSS of the server process in KiB (Linux). */
	rssKiB() {
		const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8')
		return Number(/VmRSS:\s+(\d+)/.exec(status)[1])
	}

	async healthy(timeoutMs = 2000) {
		const res = await httpGet(`${this.httpUrl}/healthz`, {
			timeoutMs,
			ca: this.tls ? fs.readFileSync(this.tls.cert) : undefined,
		})
		return res.status === 200
	}
}

/**
 * Start a server. Options: dataDir (a fresh temp dir by default), tls ({cert,key}),
 * args (extra flags), env. Always `await server.stop()` (or use `withServer`).
 */
export async function startServer({ dataDir, tls = null, args = [], env = {}, port } = {}) {
	dataDir ??= makeTempDir()
	const defaults = isReference ? [] : (process.env.TLSYNC_SERVER_ARGS || '').split(/\s+/).filter(Boolean)
	const srv = new ServerProcess({
		dataDir,
		port: port ?? (await freePort()),
		tls,
		extraArgs: [...defaults, ...args],
		env,
		label: serverKind,
	})
	// a freshly freed port can be taken by someone else in between: retry on a new one
	for (let attempt = 0; ; attempt++) {
		try {
			return await srv.start()
		} catch (e) {
			if (attempt >= 2 || port !== undefined || !/EADDRINUSE|address already in use/i.test(srv.logs)) throw e
			srv.port = await freePort()
		}
	}
}

/** Dump the server's log tail when a test fails (node:test `afterEach` helper). */
export function dumpLogsOnFailure(t, server) {
	if (server && t.passed === false) {
		process.stderr.write(`\n----- ${server.label} log tail (${t.name}) -----\n${server.tail(60)}\n-----\n`)
	}
}
