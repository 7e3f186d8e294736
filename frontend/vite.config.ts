/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/**
 * Django serves the built files from STATIC_URL + "app/" (see README.md), so
 * every asset URL in the bundle starts with this prefix. index.html itself is
 * returned by Django for the client-side routes (/, /jobs/:id, ...).
 */
const BASE = '/static/app/';

/** The Django dev server (daphne) the Vite dev server forwards API calls to. */
const DJANGO = process.env.DJANGO_URL ?? 'http://127.0.0.1:8000';

export default defineConfig(({ command }) => ({
  // The dev server serves the app at / (like Django does); only the build
  // needs the static prefix.
  base: command === 'build' ? BASE : '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    // recharts alone is ~350 kB minified; one vendor chunk keeps the app's
    // own chunk small and cacheable across UI-only releases.
    rollupOptions: {
      output: {
        manualChunks: {
          charts: ['recharts'],
          graphql: ['@apollo/client', 'graphql', 'graphql-ws'],
          validation: ['ajv', 'ajv-formats'],
        },
      },
    },
  },
  server: {
    port: 5173,
    proxy: {
      // ws: true forwards the graphql-transport-ws upgrade on the same path.
      '/graphql': { target: DJANGO, ws: true, changeOrigin: false },
      '/accounts': { target: DJANGO, changeOrigin: false },
      '/admin': { target: DJANGO, changeOrigin: false },
      '/static/admin': { target: DJANGO, changeOrigin: false },
    },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    globals: true,
    css: false,
    restoreMocks: true,
  },
}));
