// A throwaway PostgreSQL 15 cluster for a test file (scripts/pg-test-cluster),
// stopped when the process exits. `skip` holds the reason when PostgreSQL
// cannot be installed here (pg-test-cluster exits 77).
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const PG_TEST_CLUSTER = path.join(here, '..', '..', '..', 'scripts', 'pg-test-cluster')

export const cluster = { dir: null, conninfo: null, skip: null }

export function startCluster() {
	try {
		const out = execFileSync(PG_TEST_CLUSTER, ['start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600000 })
		const env = Object.fromEntries([...out.matchAll(/^(TLSYNC_PG_\w+)=(.*)$/gm)].map((m) => [m[1], m[2].replace(/^'|'$/g, '')]))
		cluster.dir = env.TLSYNC_PG_DIR
		cluster.conninfo = env.TLSYNC_PG_CONNINFO
		assert.ok(cluster.dir && cluster.conninfo, `pg-test-cluster printed no assignments:\n${out}`)
	} catch (e) {
		if (e.status === 77) {
			cluster.skip = `PostgreSQL 15 cannot be installed here: ${String(e.stderr).trim().split('\n').pop()}`
			return
		}
		throw e
	}
}

export function stopCluster() {
	if (!cluster.dir) return
	try {
		execFileSync(PG_TEST_CLUSTER, ['stop', cluster.dir], { stdio: 'ignore', timeout: 60000 })
	} catch {}
	cluster.dir = null
}
// after() hooks do not run when the test process dies: never leave a postmaster behind.
process.on('exit', stopCluster)

export function conninfoFor(dbname) {
	return cluster.conninfo.replace(/dbname=\S+/, `dbname=${dbname}`)
}

/** Runs SQL with psql against `conninfo`; returns the unaligned rows. Throws on failure. */
export function psql(conninfo, sql) {
	const r = spawnSync('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-At', '-d', conninfo], { input: sql, encoding: 'utf8', timeout: 15000 })
	if (r.status !== 0) throw new Error(`psql failed (${r.status}): ${r.stderr}\n${sql}`)
	return r.stdout.split('\n').filter((l) => l !== '')
}

/** A new, empty database of the cluster; its conninfo. */
export function createDatabase(name) {
	psql(cluster.conninfo, `DROP DATABASE IF EXISTS ${name} WITH (FORCE);\nCREATE DATABASE ${name};`)
	return conninfoFor(name)
}
