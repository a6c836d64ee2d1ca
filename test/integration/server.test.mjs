// The process contract: startup log and /healthz, --port 0, SIGTERM with nobody connected,
// bad flags.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { afterEach, describe, test } from 'node:test'
import { connectClient } from './lib/client.mjs'
import { dumpLogsOnFailure, makeTempDir, onlyTlsyncd, serverBinary, startServer } from './lib/server.mjs'

describe('server process', { timeout: 60000 }, () => {
	const servers = []
	afterEach(async (t) => {
		for (const s of servers) dumpLogsOnFailure(t, s)
		for (const s of servers.splice(0)) await s.stop({ graceMs: 5000 })
	})

	test('logs `listening on 127.0.0.1:PORT` and answers GET /healthz with 200 ok', { timeout: 15000 }, async () => {
		const s = await startServer()
		servers.push(s)
		assert.equal(s.healthz.trim(), 'ok')
		assert.match(s.listeningLine() ?? '', new RegExp(`listening on 127\\.0\\.0\\.1:${s.port}\\b`))
	})

	test('--port 0 binds a free port and logs it; clients can use it', { timeout: 15000 }, async () => {
		const s = await startServer({ port: 0 })
		servers.push(s)
		assert.ok(s.port > 0)
		const c = await connectClient(s.roomUrl('port-zero'))
		c.close()
	})

	test('SIGTERM with no clients exits 0 promptly', { timeout: 15000 }, async () => {
		const s = await startServer()
		servers.push(s)
		const res = await s.stop({ graceMs: 10000 })
		assert.deepEqual({ code: res.code, signal: res.signal }, { code: 0, signal: null })
		assert.ok(res.ms < 3000, `took ${res.ms} ms`)
	})

	test('an invalid flag value exits 2 naming the flag', { timeout: 15000, skip: onlyTlsyncd('flag validation') }, () => {
		const r = spawnSync(serverBinary, ['--port', 'notaport', '--data-dir', makeTempDir()], { encoding: 'utf8', timeout: 5000 })
		assert.equal(r.status, 2, r.stderr)
		assert.match(r.stderr + r.stdout, /--port/)
	})

	test('data dir is created and used', { timeout: 15000 }, async () => {
		const dir = makeTempDir() + '/nested/data'
		const s = await startServer({ dataDir: dir })
		servers.push(s)
		const c = await connectClient(s.roomUrl('made-dir'))
		c.close()
		const fs = await import('node:fs')
		assert.ok(fs.existsSync(dir))
	})
})
