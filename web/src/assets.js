// tldraw's asset store for tlsyncd: a pasted or dropped file is uploaded with
// PUT /uploads/{id}?room={roomId} and the document keeps the relative URL
// /uploads/{id}, so a board moved to another host name still finds its images.
import { randomId } from './room.js'

export function makeAssetStore({ roomId, token }) {
  return {
    async upload(_asset, file, abortSignal) {
      const id = randomId(22)
      const url = new URL(`/uploads/${id}`, window.location.origin)
      url.searchParams.set('room', roomId)
      if (token) url.searchParams.set('token', token)
      const res = await fetch(url, {
        method: 'PUT',
        body: file,
        headers: { 'Content-Type': file.type || 'application/octet-stream' },
        signal: abortSignal,
      })
      if (!res.ok) {
        const why = (await res.text().catch(() => '')).trim()
        throw new Error(`upload failed: ${res.status} ${why}`)
      }
      return { src: `/uploads/${id}` }
    },
    resolve(asset) {
      const src = asset.props.src
      if (!src) return null
      return new URL(src, window.location.origin).toString()
    },
  }
}
