// nginx or HAProxy in front of tlsyncd nodes (scripts/load-balancer start),
// stopped when the process exits. A result's `skip` holds the reason when the
// proxy cannot be installed here (the script exits 77).
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
export const LOAD_BALANCER = path.join(here, '..', '..', '..', 'scripts', 'load-balancer')

const running = new Set()

/**
 * Starts `kind` ('nginx' or 'haproxy') on a free loopback port in front of
 * `nodes` (ServerProcess objects or 'host:port' strings). Returns
 * { kind, dir, port, wsUrl, roomUrl(room), stop() } or { skip }.
 */
export function startBalancer(kind, nodes, { tls } = {}) {
	const args = ['start', kind]
	for (const n of nodes) args.push('--node', typeof n === 'string' ? n : `${n.host}:${n.port}`)
	if (tls) args.push('--tls-cert', tls.cert, '--tls-key', tls.key)
	let out
	try {
		out = execFileSync(LOAD_BALANCER, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600000 })
	} catch (e) {
		if (e.status === 77) return { skip: `${kind} cannot be installed here: ${String(e.stderr).trim().split('\n').pop()}` }
		throw new Error(`scripts/load-balancer start ${kind} failed (${e.status}): ${e.stderr}`)
	}
	const env = Object.fromEntries([...out.matchAll(/^(TLSYNC_LB_\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]))
	assert.ok(env.TLSYNC_LB_DIR && env.TLSYNC_LB_PORT, `scripts/load-balancer printed no assignments:\n${out}`)
	const scheme = tls ? 'wss' : 'ws'
	const lb = {
		kind,
		dir: env.TLSYNC_LB_DIR,
		port: Number(env.TLSYNC_LB_PORT),
		wsUrl: `${scheme}://127.0.0.1:${env.TLSYNC_LB_PORT}`,
		httpUrl: `${tls ? 'https' : 'http'}://127.0.0.1:${env.TLSYNC_LB_PORT}`,
		roomUrl(room, params = {}) {
			const q = new URLSearchParams(params).toString()
			return `${lb.wsUrl}/connect/${encodeURIComponent(room)}${q ? '?' + q : ''}`
		},
		stop() {
			if (!running.delete(lb)) return
			try {
				execFileSync(LOAD_BALANCER, ['stop', lb.dir], { stdio: 'ignore', timeout: 30000 })
			} catch {}
		},
	}
	running.add(lb)
	return lb
}

// after() hooks do not run when the test process dies: never leave a proxy behind.
process.on('exit', () => {
	for (const lb of [...running]) lb.stop()
})
