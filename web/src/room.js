// Where the page is and where it connects: kept apart from React so the rules
// are in one place.
//
//   /                         home: create or open a board
//   /r/{roomId}               the board, editable
//   /r/{roomId}?view=readonly the board, view only (the server makes the session readonly)
// A `token` query parameter (an access token, when tlsyncd runs with --auth jwt)
// is passed on to the sync socket and to uploads.

const ROOM_ID = /^[A-Za-z0-9_-]{1,128}$/

export function isValidRoomId(id) {
  return ROOM_ID.test(id)
}

// What a location shows: { page: 'home' } or { page: 'board', roomId, readonly, token }.
export function parseLocation(loc) {
  const match = /^\/r\/([^/]+)\/?$/.exec(loc.pathname)
  if (!match) return { page: 'home' }
  let roomId
  try {
    roomId = decodeURIComponent(match[1])
  } catch {
    return { page: 'home' }
  }
  if (!isValidRoomId(roomId)) return { page: 'home', badRoom: match[1] }
  const params = new URLSearchParams(loc.search)
  return {
    page: 'board',
    roomId,
    readonly: params.get('view') === 'readonly',
    token: params.get('token') || null,
  }
}

// The sync socket on this origin: ws:// from an http page, wss:// from https.
export function connectUri(loc, { roomId, readonly, token }) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:'
  const url = new URL(`${scheme}//${loc.host}/connect/${encodeURIComponent(roomId)}`)
  if (readonly) url.searchParams.set('readonly', '1')
  if (token) url.searchParams.set('token', token)
  return url.toString()
}

// Links to share: the editable board and its view-only twin (no token: each
// person brings their own).
export function shareLinks(loc, roomId) {
  const base = `${loc.origin}/r/${encodeURIComponent(roomId)}`
  return { edit: base, view: `${base}?view=readonly` }
}

// A new room id: 16 random characters of the allowed alphabet (96 bits).
export function newRoomId() {
  return randomId(16)
}

export function randomId(length) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'
  const bytes = crypto.getRandomValues(new Uint8Array(length))
  return Array.from(bytes, (b) => alphabet[b & 63]).join('')
}

// Accepts a room id or a pasted board link; returns the id or null.
export function roomIdFromInput(text) {
  const trimmed = text.trim()
  if (isValidRoomId(trimmed)) return trimmed
  try {
    const parsed = parseLocation(new URL(trimmed, 'http://x'))
    return parsed.page === 'board' ? parsed.roomId : null
  } catch {
    return null
  }
}
