import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

// `vite build` writes web/dist, which tlsyncd serves (--web-root). Hashed
// files go to dist/assets/, the only directory tlsyncd caches as immutable.
// `vite` (dev server) proxies the sync socket and uploads to a tlsyncd on
// TLSYNC_URL (default http://127.0.0.1:5858).
const target = process.env.TLSYNC_URL ?? 'http://127.0.0.1:5858'

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    chunkSizeWarningLimit: 4096,
  },
  server: {
    proxy: {
      '/connect': { target, ws: true },
      '/uploads': { target },
    },
  },
})
