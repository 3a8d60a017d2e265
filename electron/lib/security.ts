// Window and web-contents security for the Electron app, as data and small functions that take
// Electron objects as parameters (no 'electron' import here, so they are unit-tested in Node).

/** The renderer is served from this standard, secure custom scheme (see app-protocol.ts): a real
 * origin (module workers, OPFS and WebGPU need a secure context), no file:// access. */
export const APP_SCHEME = 'app';
export const APP_HOST = 'friday';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_ENTRY = `${APP_ORIGIN}/index.html`;

/** For protocol.registerSchemesAsPrivileged (before app ready). */
export const APP_SCHEME_PRIVILEGES = {
  standard: true,
  secure: true,
  supportFetchAPI: true,
  stream: true,
  codeCache: true,
  corsEnabled: false,
  allowServiceWorkers: false,
  bypassCSP: false,
} as const;

/**
 * The renderer's Content-Security-Policy (sent as a header by the app protocol). Scripts, styles
 * and workers only from the app itself, no inline script, no eval, no plugins, no frames, no
 * forms. connect-src allows https: (the user may load a model by URL; the worker fetches it) and
 * the app itself; remote inference goes through main, not the renderer.
 */
export function contentSecurityPolicy(): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "worker-src 'self'",
    "connect-src 'self' https:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-src 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** webPreferences for every window: isolated, sandboxed, no Node, nothing relaxed. */
export function secureWebPreferences(preloadPath: string) {
  return {
    preload: preloadPath,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    experimentalFeatures: false,
    // A file dropped outside our drop zone must not navigate the window to it.
    navigateOnDragDrop: false,
    safeDialogs: true,
    spellcheck: false,
  } as const;
}

export function mainWindowOptions(preloadPath: string) {
  return {
    width: 1280,
    height: 860,
    minWidth: 720,
    minHeight: 520,
    show: false,
    title: 'Friday',
    backgroundColor: '#0f1115',
    autoHideMenuBar: true,
    webPreferences: secureWebPreferences(preloadPath),
  };
}

export function isAppUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST;
  } catch {
    return false;
  }
}

/** Links the user may open in the system browser (never in an app window). */
export function isExternalLink(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

interface PreventableEvent { preventDefault(): void; url?: string }

/** The part of WebContents that lockDown needs. */
export interface LockableContents {
  on(event: 'will-navigate' | 'will-redirect', listener: (event: PreventableEvent, url?: string) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: PreventableEvent) => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void;
}

/**
 * Navigation stays inside the app; new windows are never created (http(s) links go to the system
 * browser through `openExternal`); <webview> is refused.
 */
export function lockDown(contents: LockableContents, openExternal: (url: string) => void): void {
  // Electron 39 puts the URL on the event; the (deprecated) second argument is the same URL.
  const guard = (event: PreventableEvent, url?: string) => { if (!isAppUrl(event.url ?? url ?? '')) event.preventDefault(); };
  contents.on('will-navigate', guard);
  contents.on('will-redirect', guard);
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    if (isExternalLink(url)) openExternal(url);
    return { action: 'deny' };
  });
}

/** Permission requests (camera, notifications, ...): the app needs none of them. */
export function denyAllPermissions(_contents: unknown, _permission: string, callback: (granted: boolean) => void): void {
  callback(false);
}

/** Permission checks: only what WebGPU and local storage need in our own origin. */
export function permissionCheck(_contents: unknown, permission: string, requestingOrigin: string): boolean {
  return requestingOrigin === APP_ORIGIN && (permission === 'persistent-storage' || permission === 'storage-access');
}
