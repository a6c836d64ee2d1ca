// Access tokens (--auth jwt): real TLSyncClients with HS256 tokens signed here, and an
// EdDSA server checked with raw peers. No token or a bad one -> 4099 NOT_AUTHENTICATED, a
// room the token does not list -> 4099 FORBIDDEN, "access":"read" -> a readonly session.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { describe, test } from 'node:test'
import { converged, waitFor } from './lib/client.mjs'
import { useServer, uniqueRoom } from './lib/harness.mjs'
import { geoShape } from './lib/records.mjs'
import { makeTempDir, onlyTlsyncd } from './lib/server.mjs'

const b64url = (buf) => Buffer.from(buf).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)

function jwt(alg, key, claims) {
	const input = `${b64url(JSON.stringify({ alg, typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`
	const sig =
		alg === 'HS256' ? crypto.createHmac('sha256', key).update(input).digest() : crypto.sign(null, Buffer.from(input), key)
	return `${input}.${b64url(sig)}`
}

const dir = makeTempDir('tlsync-auth-')
const secret = crypto.randomBytes(32).toString('hex')
const secretFile = path.join(dir, 'jwt-secret')
fs.writeFileSync(secretFile, secret + '\n') // the trailing newline is not part of the secret
const hs = (claims) => jwt('HS256', secret, { exp: now() + 600, ...claims })

describe('access tokens, HS256', { timeout: 90000, skip: onlyTlsyncd('--auth jwt') }, () => {
	const ctx = useServer({ args: ['--auth', 'jwt', '--jwt-secret-file', secretFile] })

	test('clients with tokens for the room sync; the token may list the room by prefix', { timeout: 20000 }, async () => {
		const room = uniqueRoom('team')
		const a = await ctx.client(room, { name: 'alice', params: { token: hs({ sub: 'alice', rooms: [room] }) } })
		const b = await ctx.client(room, { name: 'bob', params: { token: hs({ sub: 'bob', rooms: ['team-*'] }) } })
		const s = geoShape({ text: 'authorized' })
		a.put(s)
		await converged([a, b], { check: (c) => !!c.get(s.id) })
		assert.equal(a.connectReplies()[0].isReadonly, false)
	})

	test('no token, a bad signature or an expired token: 4099 NOT_AUTHENTICATED, and the client gives up', { timeout: 20000 }, async () => {
		const room = uniqueRoom()
		const forged = jwt('HS256', 'not-the-secret-not-the-secret-000', { sub: 'mallory', rooms: ['*'], exp: now() + 600 })
		const expired = hs({ sub: 'alice', rooms: [room], exp: now() - 3600 })
		for (const token of [undefined, forged, expired, 'not.a.jwt']) {
			const p = await ctx.peer(room, token ? { token } : {})
			const closed = await p.waitClosed()
			assert.equal(closed.code, 4099, `token ${String(token).slice(0, 12)}`)
			assert.equal(closed.reason, 'NOT_AUTHENTICATED')
		}
		// The real client surfaces the reason and does not reconnect.
		const c = ctx.clientNoWait(room, { name: 'anon' })
		await waitFor(() => c.syncErrors.length > 0, { what: 'a sync error', timeoutMs: 8000 })
		assert.equal(c.syncErrors[0], 'NOT_AUTHENTICATED')
	})

	test('a token that does not list the room: 4099 FORBIDDEN', { timeout: 15000 }, async () => {
		const room = uniqueRoom()
		const p = await ctx.peer(room, { token: hs({ sub: 'alice', rooms: ['elsewhere', 'other-*'] }) })
		const closed = await p.waitClosed()
		assert.equal(closed.code, 4099)
		assert.equal(closed.reason, 'FORBIDDEN')
		// Exact means exact: "room" does not open "room-2".
		const q = await ctx.peer(`${room}-2`, { token: hs({ sub: 'alice', rooms: [room] }) })
		assert.equal((await q.waitClosed()).reason, 'FORBIDDEN')
	})

	test('a read token makes a readonly session: its edits are discarded, it still receives', { timeout: 20000 }, async () => {
		const room = uniqueRoom()
		const writer = await ctx.client(room, { name: 'writer', params: { token: hs({ sub: 'w', rooms: [room] }) } })
		const reader = await ctx.client(room, {
			name: 'reader',
			params: { token: hs({ sub: 'r', rooms: [room], access: 'read' }) },
		})
		assert.equal(reader.connectReplies()[0].isReadonly, true)
		const attempt = geoShape({ text: 'not allowed' })
		reader.put(attempt)
		await reader.settled()
		await waitFor(() => !reader.get(attempt.id), { what: 'the reader to roll back' })
		const s = geoShape({ text: 'from the writer' })
		writer.put(s)
		await waitFor(() => !!reader.get(s.id), { what: 'the reader to receive the edit' })
		assert.equal(writer.get(attempt.id), undefined)
	})

	test('a token in an Authorization header works too; health stays open', { timeout: 15000 }, async () => {
		const room = uniqueRoom()
		const { RawPeer } = await import('./lib/raw.mjs')
		const url = ctx.server.roomUrl(room, { sessionId: 'hdr', storeId: 'hdr' })
		const p = new RawPeer(url, { headers: { Authorization: `Bearer ${hs({ sub: 'alice', rooms: [room] })}` } })
		ctx.peers.push(p)
		await p.opened
		assert.equal((await p.connect()).type, 'connect')
		const res = await fetch(ctx.server.httpUrl + '/healthz')
		assert.equal(res.status, 200)
	})

	test('the admin API takes tokens with "admin": true, and no others', { timeout: 15000 }, async () => {
		const get = (token) =>
			fetch(ctx.server.httpUrl + '/admin/rooms', token ? { headers: { Authorization: `Bearer ${token}` } } : {})
		assert.equal((await get(hs({ sub: 'ops', admin: true }))).status, 200)
		assert.equal((await get(hs({ sub: 'alice', rooms: ['*'] }))).status, 401)
		assert.equal((await get(undefined)).status, 401)
	})
})

describe('access tokens, EdDSA public key', { timeout: 60000, skip: onlyTlsyncd('--auth jwt') }, () => {
	const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519')
	const keyFile = path.join(dir, 'jwt-public.pem')
	fs.writeFileSync(keyFile, publicKey.export({ type: 'spki', format: 'pem' }))
	const ctx = useServer({ args: ['--auth', 'jwt', '--jwt-public-key', keyFile] })

	test('EdDSA tokens open their rooms; an HS256 token is refused whatever its secret', { timeout: 15000 }, async () => {
		const room = uniqueRoom()
		const ok = await ctx.peer(room, { token: jwt('EdDSA', privateKey, { sub: 'alice', rooms: [room], exp: now() + 600 }) })
		assert.equal((await ok.connect()).type, 'connect')
		// Algorithm confusion: HS256 "signed" with the public key's PEM.
		const pem = publicKey.export({ type: 'spki', format: 'pem' })
		const confused = await ctx.peer(room, { token: jwt('HS256', pem, { sub: 'mallory', rooms: ['*'], exp: now() + 600 }) })
		assert.equal((await confused.waitClosed()).reason, 'NOT_AUTHENTICATED')
	})
})
