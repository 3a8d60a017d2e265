// The demo's entry: mounts the app, with the Electron bridge when the preload provided one, and
// (in a production build served over http) registers the service worker that keeps the app shell
// available offline; models themselves are cached by the library (OPFS, src/model/cache).
import './style.css';
import { mountApp } from './app.js';
import { getBridge } from './bridge-client.js';

const root = document.getElementById('app');
if (!root) throw new Error('index.html has no #app element');
const app = mountApp(root, { bridge: getBridge() });
(globalThis as { fridayApp?: unknown }).fridayApp = app; // handy in devtools

// MODE, not PROD: PROD follows NODE_ENV, which test runners set to 'test' even for a production build.
if (import.meta.env.MODE === 'production' && 'serviceWorker' in navigator && location.protocol.startsWith('http')) {
  navigator.serviceWorker.register(new URL('sw.js', document.baseURI)).catch((e: unknown) => console.warn('friday: service worker not registered', e));
}
