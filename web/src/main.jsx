import { StrictMode, useMemo, useState } from 'react'
import { createRoot } from 'react-dom/client'
import { Tldraw } from 'tldraw'
import { useSync } from '@tldraw/sync'
import { getAssetUrlsByImport } from '@tldraw/assets/imports.vite'
import 'tldraw/tldraw.css'
import './app.css'
import { connectUri, newRoomId, parseLocation, roomIdFromInput, shareLinks } from './room.js'
import { makeAssetStore } from './assets.js'

// Fonts, icons and translations come from this server, not tldraw's CDN, so
// the board works on a network without internet access.
const assetUrls = getAssetUrlsByImport()
// tldraw needs a license key on https sites other than localhost; give yours
// at build time (VITE_TLDRAW_LICENSE_KEY=... scripts/setup).
const licenseKey = import.meta.env.VITE_TLDRAW_LICENSE_KEY || undefined

function Home({ badRoom }) {
  const [text, setText] = useState('')
  const [error, setError] = useState(badRoom ? `"${badRoom}" is not a room id` : '')
  const open = (event) => {
    event.preventDefault()
    const id = roomIdFromInput(text)
    if (!id) {
      setError('Enter a room id (letters, digits, _ and -, up to 128) or a board link')
      return
    }
    window.location.assign(`/r/${id}`)
  }
  return (
    <main className="home">
      <h1>Whiteboard</h1>
      <p>Boards are shared live with everyone who has the link.</p>
      <button className="primary" data-testid="new-board" onClick={() => window.location.assign(`/r/${newRoomId()}`)}>
        New board
      </button>
      <form onSubmit={open}>
        <input
          aria-label="Room id or link"
          placeholder="Room id or link"
          value={text}
          onChange={(e) => setText(e.target.value)}
          data-testid="room-input"
        />
        <button type="submit" data-testid="open-board">Open</button>
      </form>
      {error && <p className="error" role="alert">{error}</p>}
    </main>
  )
}

function CopyButton({ text, label, testId }) {
  const [copied, setCopied] = useState(false)
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text)
      setCopied(true)
      setTimeout(() => setCopied(false), 1500)
    } catch {
      window.prompt('Copy this link', text) // no clipboard outside secure contexts
    }
  }
  return (
    <button data-testid={testId} data-link={text} onClick={copy} title={text}>
      {copied ? 'Copied' : label}
    </button>
  )
}

function makeSharePanel(roomId, readonly) {
  return function SharePanel() {
    const links = shareLinks(window.location, roomId)
    return (
      <div className="share-panel" data-testid="share-panel">
        {readonly && <span className="badge" data-testid="readonly-badge">View only</span>}
        <CopyButton text={links.edit} label="Copy link" testId="copy-edit-link" />
        <CopyButton text={links.view} label="Copy view-only link" testId="copy-view-link" />
        <a href="/" title="Home">＋</a>
      </div>
    )
  }
}

function Board({ roomId, readonly, token }) {
  const uri = connectUri(window.location, { roomId, readonly, token })
  const assets = useMemo(() => makeAssetStore({ roomId, token }), [roomId, token])
  const store = useSync({ uri, assets })
  const components = useMemo(() => ({ SharePanel: makeSharePanel(roomId, readonly) }), [roomId, readonly])
  if (store.status === 'error') {
    return (
      <main className="home">
        <h1>Cannot open this board</h1>
        <p className="error" role="alert" data-testid="sync-error">{String(store.error?.message ?? store.error)}</p>
        <a href="/">Back</a>
      </main>
    )
  }
  return (
    <div className="board">
      <Tldraw
        store={store}
        assetUrls={assetUrls}
        licenseKey={licenseKey}
        components={components}
        onMount={(editor) => {
          // For scripts and the browser tests (test/browser).
          window.editor = editor
        }}
      />
    </div>
  )
}

function App() {
  const where = parseLocation(window.location)
  if (where.page === 'board') {
    document.title = `${where.roomId}${where.readonly ? ' (view only)' : ''} · whiteboard`
    return <Board roomId={where.roomId} readonly={where.readonly} token={where.token} />
  }
  return <Home badRoom={where.badRoom} />
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App />
  </StrictMode>,
)
