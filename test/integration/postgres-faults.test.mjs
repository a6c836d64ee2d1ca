// PostgreSQL stopped and restarted under load, with real processes: tlsyncd
// with --postgres, a throwaway PostgreSQL 15 + wal2json cluster
// (scripts/pg-test-cluster), tldraw rooms edited by the real client, user
// sockets (/app/{userId}/connect) receiving `changes`, a SQL writer (psql)
// and the users' own mutations committing the whole time. Postgres goes
// down (fast, then immediate) and comes back; afterwards every committed row
// change has reached each user it concerns exactly once and in order,
// numbered without gaps, the rooms never stopped, and the replicator says it
// reconnected. Also: tlsyncd started while Postgres is down serves rooms and
// its replicator connects once Postgres is up. Skipped, with the reason,
// where PostgreSQL cannot be installed (pg-test-cluster exits 77).
import assert from 'node:assert/strict'
import { execFile, execFileSync, spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, afterEach, before, describe, test } from 'node:test'
import { connectClient, converged, sleep, waitFor } from './lib/client.mjs'
import { RawPeer } from './lib/raw.mjs'
import { geoShape } from './lib/records.mjs'
import { dumpLogsOnFailure, onlyTlsyncd, startServer } from './lib/server.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const PG_TEST_CLUSTER = path.join(here, '..', '..', 'scripts', 'pg-test-cluster')
const ADMIN = 'pg-faults-admin'

// ---- the cluster ------------------------------------------------------------

const cluster = { dir: null, conninfo: null, skip: null }

function startCluster() {
	try {
		const out = execFileSync(PG_TEST_CLUSTER, ['start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600000 })
		const env = Object.fromEntries([...out.matchAll(/^(TLSYNC_PG_\w+)=(.*)$/gm)].map((m) => [m[1], m[2].replace(/^'|'$/g, '')]))
		cluster.dir = env.TLSYNC_PG_DIR
		cluster.conninfo = env.TLSYNC_PG_CONNINFO
		assert.ok(cluster.dir && cluster.conninfo, `pg-test-cluster printed no assignments:\n${out}`)
	} catch (e) {
		if (e.status === 77) {
			cluster.skip = `PostgreSQL 15 + wal2json cannot be installed here: ${String(e.stderr).trim().split('\n').pop()}`
			return
		}
		throw e
	}
}

function stopCluster() {
	if (!cluster.dir) return
	try {
		execFileSync(PG_TEST_CLUSTER, ['stop', cluster.dir], { stdio: 'ignore', timeout: 60000 })
	} catch {}
	cluster.dir = null
}
// after() hooks do not run when the test process dies: never leave a postmaster behind.
process.on('exit', stopCluster)

/** `pg-test-cluster down DIR mode` / `up DIR`, asynchronously (the event loop keeps serving the clients). */
function clusterCommand(...args) {
	return new Promise((resolve, reject) => {
		execFile(PG_TEST_CLUSTER, [...args], { timeout: 60000 }, (err, stdout, stderr) =>
			err ? reject(new Error(`pg-test-cluster ${args[0]} failed: ${err.message}\n${stderr}`)) : resolve()
		)
	})
}

function conninfoFor(dbname) {
	return cluster.conninfo.replace(/dbname=\S+/, `dbname=${dbname}`)
}

/**
 * Runs `sql` through psql (one statement per line, each its own transaction) and reports which
 * statements Postgres acknowledged: psql prints a command tag per statement and stops at the
 * first error (ON_ERROR_STOP) or when the connection goes (exit 2).
 */
function psql(conninfo, sql, { tuples = false, timeoutMs = 15000 } = {}) {
	return new Promise((resolve) => {
		const args = ['-X', '-v', 'ON_ERROR_STOP=1', '-d', conninfo]
		if (tuples) args.push('-At')
		const p = spawn('psql', args, { stdio: ['pipe', 'pipe', 'pipe'] })
		let stdout = ''
		let stderr = ''
		const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs)
		p.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
		p.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
		p.on('error', (e) => (stderr += e.message))
		p.on('close', (code) => {
			clearTimeout(timer)
			const acked = stdout.split('\n').filter((l) => /^(INSERT \d+ \d+|UPDATE \d+)$/.test(l)).length
			resolve({ code, stdout, stderr, acked })
		})
		p.stdin.on('error', () => {})
		p.stdin.end(sql)
	})
}

async function query(conninfo, sql) {
	const r = await psql(conninfo, sql, { tuples: true })
	if (r.code !== 0) throw new Error(`psql failed (${r.code}): ${r.stderr}\n${sql}`)
	return r.stdout.split('\n').filter((l) => l !== '')
}

// ---- the server -------------------------------------------------------------

async function diagnostics(srv) {
	const res = await fetch(`${srv.httpUrl}/replicator/diagnostics`, { headers: { authorization: `Bearer ${ADMIN}` } })
	assert.equal(res.status, 200)
	return res.json()
}

async function metric(srv, name) {
	const text = await (await fetch(`${srv.httpUrl}/metrics`)).text()
	const m = new RegExp(`^${name} (\\d+)`, 'm').exec(text)
	assert.ok(m, `/metrics has no ${name}`)
	return Number(m[1])
}

/** Waits until the replicator streams (and, with `reboots`, has rebooted more than that many times). */
async function streaming(srv, { reboots = -1, timeoutMs = 30000 } = {}) {
	let last
	await waitFor(
		async () => {
			last = (await diagnostics(srv)).replicator
			return last.state === 'streaming' && (await metric(srv, 'tlsync_replicator_reboots_total')) > reboots
		},
		{ timeoutMs, intervalMs: 100, what: 'the replicator to stream', describe: () => JSON.stringify(last) }
	)
	return last
}

// ---- user sockets -----------------------------------------------------------

const lsnValue = (lsn) => {
	const [hi, lo] = lsn.split('/')
	return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)
}

/** One key per row change, so streams can be compared as arrays. */
function changeKeys(event) {
	return event.changes.map((c) => {
		if (c.type === 'mutation_commit') return `mutation_commit:${c.mutationNumber}`
		const r = c.row
		const id = c.table === 'file_state' ? `${r.userId}/${r.fileId}` : r.id
		return `${c.table}:${c.event}:${id}${c.table === 'file' && c.event === 'update' ? `:${r.name}` : ''}`
	})
}

function userSocketUrl(srv, user, params = {}) {
	const q = new URLSearchParams(params).toString()
	return `${srv.wsUrl}/app/${user}/connect${q ? '?' + q : ''}`
}

/**
 * What one user socket received, checked against the protocol: the first frame is initial_data
 * (or hello), every `changes` of its sequenceId follows the previous number without a gap, LSNs
 * only grow, no reload. Returns the flat list of row-change keys in arrival order.
 */
function checkStream(name, frames) {
	const first = frames[0]
	assert.ok(first && (first.type === 'initial_data' || first.type === 'hello'), `${name}: starts with ${first?.type}`)
	const reloads = frames.filter((f) => f.type === 'reload')
	assert.deepEqual(reloads, [], `${name}: a Postgres restart must not make users reload`)
	const changes = frames.filter((f) => f.type === 'changes')
	let expected = first.sequenceNumber + 1
	let lastLsn = lsnValue(first.lsn)
	for (const c of changes) {
		assert.equal(c.sequenceId, first.sequenceId, `${name}: changes of another sequenceId`)
		assert.equal(c.sequenceNumber, expected, `${name}: sequence number ${c.sequenceNumber} where ${expected} was due`)
		expected++
		const lsn = lsnValue(c.lsn)
		assert.ok(lsn > lastLsn, `${name}: changes at ${c.lsn} after one at or past it (a transaction twice?)`)
		lastLsn = lsn
	}
	return { changes, keys: changes.flatMap(changeKeys) }
}

// ---- writers ----------------------------------------------------------------

const USERS = ['pf-u0', 'pf-u1', 'pf-u2']
const SHARED = 'pf-shared' // owned by pf-u0, the others are guests; also a room id (rooms follow files)

/**
 * Statement k of the SQL writer. Both kinds are idempotent, so a statement whose acknowledgement
 * was lost with the connection can be sent again without a second row change: a retried insert
 * conflicts and does nothing, a retried rename matches no row.
 */
function sqlStatement(k) {
	if (k % 4 === 3) return `UPDATE file SET name = 'n-${k}' WHERE id = '${SHARED}' AND name <> 'n-${k}';`
	const owner = USERS[k % USERS.length]
	return (
		`INSERT INTO file (id, "ownerId", name, "publishedSlug", "createdAt", "updatedAt") ` +
		`VALUES ('sql-${k}', '${owner}', 'x', 'slug-sql-${k}', 1, 1) ON CONFLICT (id) DO NOTHING;`
	)
}

/** Commits statements 0, 1, 2, ... in batches through psql until stopped; retries what was not acknowledged. */
function sqlWriter(conninfo, { batch = 16, pauseMs = 30 } = {}) {
	const w = { next: 0, failures: 0, stop: false }
	w.done = (async () => {
		while (!w.stop) {
			const sql = Array.from({ length: batch }, (_, i) => sqlStatement(w.next + i)).join('\n')
			const r = await psql(conninfo, sql)
			w.next += r.acked
			if (r.code !== 0) {
				w.failures++
				await sleep(100)
			} else {
				await sleep(pauseMs)
			}
		}
	})()
	return w
}

/**
 * One user's mutations over its socket, one at a time: file `mut-{user}-{j}` inserted. `unavailable`
 * (Postgres down) is retried under a new mutation id; `conflict` on a retry means an earlier
 * attempt committed although its answer was lost, which the stream then shows.
 */
function mutationWriter(peer, user, { pauseMs = 60 } = {}) {
	const w = { committed: [], unavailable: 0, lostAnswers: 0, stop: false, from: 0 }
	const answer = (mutationId) => {
		let found
		return peer
			.waitUntil(
				() => {
					for (let i = w.from; i < peer.messages.length; i++) {
						const m = peer.messages[i]
						if ((m.type === 'commit' && m.mutationIds.includes(mutationId)) || (m.type === 'reject' && m.mutationId === mutationId)) {
							found = m
							w.from = i + 1
							return true
						}
					}
					return false
				},
				30000,
				`the answer to mutation ${mutationId}`
			)
			.then(() => found)
	}
	w.done = (async () => {
		for (let j = 0; !w.stop; j++) {
			const fileId = `mut-${user}-${j}`
			for (let attempt = 0; ; attempt++) {
				const mutationId = `${fileId}.${attempt}`
				peer.send(
					{ type: 'mutate', mutationId, updates: [{ table: 'file', event: 'insert', row: { id: fileId, name: 'm', ownerId: user } }] },
					{ chunked: false }
				)
				const a = await answer(mutationId)
				if (a.type === 'commit') break
				if (a.errorCode === 'unavailable') {
					w.unavailable++
					await sleep(100)
					continue
				}
				assert.ok(a.errorCode === 'conflict' && attempt > 0, `mutation ${mutationId} rejected: ${JSON.stringify(a)}`)
				w.lostAnswers++
				break
			}
			w.committed.push(fileId)
			await sleep(pauseMs)
		}
	})()
	return w
}

/** The real tldraw client adding a shape every `everyMs`; `made` lists them. */
function roomEditor(client, label, { everyMs = 100 } = {}) {
	const e = { made: [], stop: false }
	e.done = (async () => {
		for (let i = 0; !e.stop; i++) {
			const s = geoShape({ text: `${label}-${i}`, x: i })
			client.put(s)
			e.made.push(s.id)
			await sleep(everyMs)
		}
	})()
	return e
}

/** A room session that never left: one connect reply, no sync error, its socket never went offline. */
function assertNeverDisconnected(c) {
	assert.equal(c.connectReplies().length, 1, `${c.name} connected again: ${JSON.stringify(c.statuses)}`)
	assert.deepEqual(c.syncErrors, [], `${c.name}: sync errors`)
	assert.ok(c.client.isConnectedToRoom, `${c.name} is no longer in its room`)
	assert.deepEqual(
		c.statuses.filter((s) => s.status !== 'online'),
		[],
		`${c.name}'s socket left the online state`
	)
}

// ---- tests ------------------------------------------------------------------

describe('Postgres faults', { timeout: 180000, skip: onlyTlsyncd('the replicator (--postgres)') }, () => {
	const servers = []
	const peers = []
	const clients = []
	before(() => startCluster())
	after(() => stopCluster())
	afterEach(async (t) => {
		for (const s of servers) dumpLogsOnFailure(t, s)
		for (const c of clients.splice(0)) c.close()
		for (const p of peers.splice(0)) p.terminate()
		for (const s of servers.splice(0)) await s.stop({ graceMs: 8000 })
	})
	const server = async (dbname, slot) => {
		const s = await startServer({
			args: ['--postgres', conninfoFor(dbname), '--replicator-slot', slot, '--app-users-insecure', '--admin-token', ADMIN],
		})
		servers.push(s)
		return s
	}
	const userSocket = async (srv, user, params) => {
		const p = await RawPeer.open(userSocketUrl(srv, user, params))
		peers.push(p)
		await p.next((m) => m.type === 'initial_data' || m.type === 'hello', 20000)
		return p
	}
	const client = async (srv, room, name) => {
		const c = await connectClient(srv.roomUrl(room), { name })
		clients.push(c)
		return c
	}
	/** A shape `from` makes now must reach `to` within `timeoutMs`: the room works at this moment. */
	const roomProbe = async (from, to, what) => {
		const s = geoShape({ text: what })
		from.put(s)
		await waitFor(() => to.get(s.id), { timeoutMs: 5000, what: `${to.name} to see the shape made ${what}` })
	}

	test(
		'Postgres stopped (fast, then immediate) under load: rooms keep working, the replicator resumes, users get every change once and in order',
		{ timeout: 120000 },
		async (t) => {
			if (cluster.skip) return t.skip(cluster.skip)
			const t0 = Date.now()
			const db = 'pf_restart'
			await query(cluster.conninfo, `CREATE DATABASE ${db}`)
			const conninfo = conninfoFor(db)
			const srv = await server(db, 'pf_restart_slot')
			const initial = await streaming(srv) // the app schema is in; a new slot (its first epoch)
			await query(
				conninfo,
				`INSERT INTO "user" (id, name, "createdAt", "updatedAt") VALUES ${USERS.map((u) => `('${u}', '${u}', 1, 1)`).join(', ')};
				 INSERT INTO file (id, "ownerId", name, "publishedSlug", "createdAt", "updatedAt") VALUES ('${SHARED}', '${USERS[0]}', 'n-start', 'slug-${SHARED}', 1, 1);
				 INSERT INTO file_state ("userId", "fileId", "isFileOwner") VALUES ${USERS.map((u, i) => `('${u}', '${SHARED}', ${i === 0})`).join(', ')};`
			)

			// Every user has a socket; pf-u0 two (they share its numbering).
			const sockets = []
			for (const u of USERS) sockets.push({ name: u, user: u, peer: await userSocket(srv, u) })
			sockets.push({ name: `${USERS[0]}#2`, user: USERS[0], peer: await userSocket(srv, USERS[0]) })
			for (const s of sockets) {
				const init = s.peer.messages[0]
				assert.equal(init.type, 'initial_data')
				assert.ok(init.data.files.some((f) => f.id === SHARED), `${s.name} follows ${SHARED}`)
			}

			// Two rooms in use: the shared file's room and a plain one.
			const [a, b] = [await client(srv, SHARED, 'file-a'), await client(srv, SHARED, 'file-b')]
			const [c, d] = [await client(srv, 'pf-plain-room', 'plain-c'), await client(srv, 'pf-plain-room', 'plain-d')]
			const roomClients = [a, b, c, d]

			const sqlW = sqlWriter(conninfo)
			const mutW = sockets.slice(0, USERS.length).map((s) => mutationWriter(s.peer, s.user))
			const editors = [roomEditor(a, 'a'), roomEditor(c, 'c')]
			const timings = {}
			const outage = async (mode) => {
				await sleep(2500) // load before
				const reboots = await metric(srv, 'tlsync_replicator_reboots_total')
				const down = Date.now()
				await clusterCommand('down', cluster.dir, mode)
				// While Postgres is down: both rooms still take and broadcast edits, the users' sockets
				// stay, and a user connecting now is told at once to try again later (1013).
				const newcomer = new RawPeer(userSocketUrl(srv, 'pf-newcomer'))
				peers.push(newcomer)
				await roomProbe(b, a, `while Postgres was down (${mode})`)
				await roomProbe(d, c, `while Postgres was down (${mode})`)
				const refused = await newcomer.waitClosed(10000)
				assert.equal(refused.code, 1013, `a user connecting while Postgres is down: ${JSON.stringify(refused)}`)
				await sleep(Math.max(0, 1500 - (Date.now() - down)))
				await clusterCommand('up', cluster.dir)
				const up = Date.now()
				const state = await streaming(srv, { reboots })
				timings[mode] = { downMs: up - down, resumedAfterMs: Date.now() - up, sessions: state.sessions }
			}
			await outage('fast')
			await outage('immediate')
			await sleep(2500) // load after
			sqlW.stop = true
			for (const w of mutW) w.stop = true
			for (const e of editors) e.stop = true
			await Promise.all([sqlW.done, ...mutW.map((w) => w.done), ...editors.map((e) => e.done)])

			// Ground truth from the database.
			const owned = {}
			for (const u of USERS) {
				owned[u] = await query(conninfo, `SELECT id FROM file WHERE "ownerId" = '${u}' AND id <> '${SHARED}'`)
			}
			const mutationNumbers = Object.fromEntries(
				(await query(conninfo, `SELECT "userId" || ' ' || "mutationNumber" FROM user_mutation_number`)).map((l) => l.split(' '))
			)
			const [sharedName] = await query(conninfo, `SELECT name FROM file WHERE id = '${SHARED}'`)
			const written = Array.from({ length: sqlW.next }, (_, k) => k)
			const renames = written.filter((k) => k % 4 === 3).map((k) => `n-${k}`)
			assert.equal(sharedName, renames.at(-1), 'the last acknowledged rename is in the database')

			// What each user must see, in this order per writer: the SQL writer's inserts of its files,
			// every rename of the shared file, its own mutations' files.
			const expected = (u) => ({
				sql: written.filter((k) => k % 4 !== 3 && USERS[k % USERS.length] === u).map((k) => `sql-${k}`),
				mut: mutW[USERS.indexOf(u)].committed,
				renames,
			})
			for (const u of USERS) {
				const e = expected(u)
				assert.deepEqual(
					[...owned[u]].sort(),
					[...e.sql, ...e.mut].sort(),
					`${u}: the files in the database are exactly those the writers had acknowledged`
				)
				assert.equal(Number(mutationNumbers[u]), e.mut.length, `${u}: one mutation number per committed mutation`)
			}
			const seen = (s) => {
				const keys = s.peer.messages.filter((f) => f.type === 'changes').flatMap(changeKeys)
				return {
					sql: keys.filter((k) => k.startsWith('file:insert:sql-')).map((k) => k.slice('file:insert:'.length)),
					mut: keys.filter((k) => k.startsWith('file:insert:mut-')).map((k) => k.slice('file:insert:'.length)),
					renames: keys.filter((k) => k.startsWith(`file:update:${SHARED}:`)).map((k) => k.split(':').at(-1)),
					commits: keys.filter((k) => k.startsWith('mutation_commit:')).map((k) => Number(k.split(':')[1])),
					keys,
				}
			}
			// Delivery can trail the last commit by a replicator backoff: wait for the last of each kind.
			for (const s of sockets) {
				const e = expected(s.user)
				await waitFor(
					() => {
						const got = seen(s)
						return got.sql.length >= e.sql.length && got.mut.length >= e.mut.length && got.renames.length >= e.renames.length
					},
					{ timeoutMs: 30000, what: `${s.name} to receive every change`, describe: () => JSON.stringify({ ...seen(s), keys: undefined }).slice(0, 800) }
				)
			}
			await sleep(500) // anything extra (a duplicate) would arrive now

			const verify = (s) => {
				assert.equal(s.peer.closed, null, `${s.name}'s socket was closed: ${JSON.stringify(s.peer.closed)}`)
				checkStream(s.name, s.peer.messages)
				const got = seen(s)
				const e = expected(s.user)
				assert.deepEqual(got.sql, e.sql, `${s.name}: the SQL writer's files, each once, in commit order`)
				assert.deepEqual(got.mut, e.mut, `${s.name}: its mutations' files, each once, in order`)
				assert.deepEqual(got.renames, e.renames, `${s.name}: every rename of ${SHARED}, once, in order`)
				assert.deepEqual(got.commits, e.mut.map((_, i) => i + 1), `${s.name}: mutation_commit numbers without gap or repeat`)
			}
			for (const s of sockets) verify(s)
			// pf-u0's two sockets share one numbering: the same events under the same numbers.
			const [first, second] = sockets.filter((s) => s.user === USERS[0])
			const numbered = (s) => s.peer.messages.filter((f) => f.type === 'changes').map((f) => `${f.sequenceNumber}:${changeKeys(f).join(',')}`)
			assert.deepEqual(numbered(second), numbered(first))
			// Commit frames only follow the changes that carried them.
			for (const s of sockets.slice(0, USERS.length)) {
				const frames = s.peer.messages
				frames.forEach((f, i) => {
					if (f.type !== 'commit') return
					for (const id of f.mutationIds) {
						const fileId = id.replace(/\.\d+$/, '')
						const carried = frames.slice(0, i).some((g) => g.type === 'changes' && changeKeys(g).includes(`file:insert:${fileId}`))
						assert.ok(carried, `${s.name}: commit of ${id} before the changes carrying it`)
					}
				})
			}

			// The rooms never stopped: every session is the one it started with, and all edits are everywhere.
			for (const rc of roomClients) assertNeverDisconnected(rc)
			await converged([a, b], { timeoutMs: 15000 })
			await converged([c, d], { timeoutMs: 15000 })
			for (const id of editors[0].made) assert.ok(b.get(id), `file-b has ${id}`)
			for (const id of editors[1].made) assert.ok(d.get(id), `plain-d has ${id}`)

			// The replicator reconnected twice and the stream never broke.
			const diag = await diagnostics(srv)
			assert.equal(diag.replicator.state, 'streaming')
			assert.ok((await metric(srv, 'tlsync_replicator_reboots_total')) >= 2)
			assert.equal(await metric(srv, 'tlsync_replicator_sequence_breaks_total'), diag.replicator.sequenceBreaks)
			assert.equal(diag.replicator.sequenceBreaks, initial.sequenceBreaks, 'no new epoch')
			assert.equal(diag.replicator.epoch, initial.epoch, 'no new epoch')
			assert.ok(sqlW.failures > 0, 'the SQL writer met the outages (else nothing was tested)')

			// A user coming back with an LSN from before the outages gets exactly what followed it
			// (once its last socket is gone: a second socket of a connected user gets a snapshot).
			const u1 = sockets[1]
			const before = u1.peer.messages.filter((f) => f.type === 'changes')
			const cut = Math.floor(before.length / 4)
			u1.peer.close(1000)
			await u1.peer.waitClosed()
			await waitFor(async () => !(await diagnostics(srv)).users.some((u) => u.userId === u1.user), {
				timeoutMs: 10000,
				what: `${u1.user}'s actor to go`,
			})
			const resumed = await userSocket(srv, u1.user, { lsn: before[cut].lsn })
			await waitFor(() => resumed.messages.filter((f) => f.type === 'changes').length >= before.length - cut - 1, {
				timeoutMs: 15000,
				what: 'the replay',
				describe: () => resumed.describe(),
			})
			await sleep(300)
			assert.equal(resumed.messages[0].type, 'hello')
			assert.equal(resumed.messages[0].resumed, true)
			const replay = checkStream(`${u1.name} resumed`, resumed.messages)
			assert.deepEqual(
				replay.changes.map((f) => f.lsn + ' ' + changeKeys(f).join(',')),
				before.slice(cut + 1).map((f) => f.lsn + ' ' + changeKeys(f).join(','))
			)

			t.diagnostic(
				`${sqlW.next} SQL statements (${sqlW.failures} failed batches), ` +
					`${mutW.map((w) => w.committed.length).join('+')} mutations (${mutW.reduce((n, w) => n + w.unavailable, 0)} unavailable, ` +
					`${mutW.reduce((n, w) => n + w.lostAnswers, 0)} lost answers), ${editors[0].made.length + editors[1].made.length} room edits, ` +
					`${sockets.map((s) => s.peer.messages.filter((f) => f.type === 'changes').length).join('/')} changes events; ` +
					`outages ${JSON.stringify(timings)}; redelivered ${diag.replicator.redelivered}; ${Date.now() - t0} ms`
			)
		}
	)

	test('tlsyncd started while Postgres is down serves rooms, and its replicator connects once Postgres is up', { timeout: 60000 }, async (t) => {
		if (cluster.skip) return t.skip(cluster.skip)
		const db = 'pf_down'
		await query(cluster.conninfo, `CREATE DATABASE ${db}`)
		await clusterCommand('down', cluster.dir, 'fast')
		let down = true
		try {
			const srv = await server(db, 'pf_down_slot')
			// A user socket opened now waits for the replicator's first stream (up to 15 s).
			const early = new RawPeer(userSocketUrl(srv, 'pf-early'))
			peers.push(early)
			const a = await client(srv, 'pf-down-room', 'down-a')
			const b = await client(srv, 'pf-down-room', 'down-b')
			await roomProbe(a, b, 'with Postgres down since the start')
			assert.notEqual((await diagnostics(srv)).replicator.state, 'streaming')
			await sleep(1000)
			await clusterCommand('up', cluster.dir)
			down = false
			await streaming(srv, { timeoutMs: 30000 })
			await roomProbe(b, a, 'after Postgres came up')
			assert.equal((await early.next(() => true, 15000)).type, 'initial_data', 'the user who came early is served')
			await query(conninfoFor(db), `INSERT INTO "user" (id, name, "createdAt", "updatedAt") VALUES ('pf-late', 'late', 1, 1)`)
			const p = await userSocket(srv, 'pf-late')
			assert.equal(p.messages[0].type, 'initial_data')
			await query(
				conninfoFor(db),
				`INSERT INTO file (id, "ownerId", name, "publishedSlug", "createdAt", "updatedAt") VALUES ('late-1', 'pf-late', 'x', 'slug-late-1', 1, 1)`
			)
			await p.next((m) => m.type === 'changes' && changeKeys(m).includes('file:insert:late-1'), 10000)
			for (const rc of [a, b]) assertNeverDisconnected(rc)
		} finally {
			if (down) await clusterCommand('up', cluster.dir).catch(() => {})
		}
	})
})
