// Electron main process: one window showing the built web demo (dist-web/) from app://friday,
// sandboxed and isolated, with the typed bridge from preload.ts. Main owns what the renderer must
// not: files on disk (native dialog → FileSource, read in chunks over IPC) and the remote pool
// with its API keys. All the logic lives in lib/ (tested without Electron); this file wires it.
//
// Build: node electron/build.mjs (bundles this to dist-electron/main.js and the preload to
// dist-electron/preload.cjs); run: electron dist-electron/main.js (npm run electron).
import { app, BrowserWindow, dialog, ipcMain, protocol, session, shell } from 'electron';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAppHandler } from './lib/app-protocol.js';
import { registerIpc, type IpcMainLike, type SenderLike } from './lib/ipc.js';
import { ModelFileRegistry } from './lib/model-files.js';
import { loadRemoteConfig, RemoteProxy } from './lib/remote-proxy.js';
import {
  APP_ENTRY, APP_SCHEME, APP_SCHEME_PRIVILEGES, contentSecurityPolicy, denyAllPermissions, isAppUrl, isExternalLink, lockDown,
  mainWindowOptions, permissionCheck,
} from './lib/security.js';

const here = dirname(fileURLToPath(import.meta.url));
const webRoot = join(here, '..', 'dist-web');
const preloadPath = join(here, 'preload.cjs');

/** The bundled default model; in a packaged app it is unpacked from the asar (asarUnpack: models/**). */
function bundledModelPath(): string | undefined {
  const p = join(here, '..', 'models', 'friday-default.gguf').replace(`app.asar${'/'}`, `app.asar.unpacked${'/'}`);
  return existsSync(p) ? p : undefined;
}

protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { ...APP_SCHEME_PRIVILEGES } }]);
app.enableSandbox();
if (process.platform === 'linux') {
  // Chromium ships WebGPU behind these on Linux.
  app.commandLine.appendSwitch('enable-unsafe-webgpu');
  app.commandLine.appendSwitch('enable-features', 'Vulkan');
}

// Every web contents (windows, and anything a page might try to create) is locked down.
app.on('web-contents-created', (_event, contents) => {
  lockDown(contents, (url) => { if (isExternalLink(url)) void shell.openExternal(url); });
});

const files = new ModelFileRegistry();
let remote: RemoteProxy;

async function createWindow(): Promise<void> {
  const win = new BrowserWindow(mainWindowOptions(preloadPath));
  win.once('ready-to-show', () => win.show());
  await win.loadURL(APP_ENTRY);
}

app.whenReady().then(async () => {
  const csp = contentSecurityPolicy();
  protocol.handle(APP_SCHEME, createAppHandler({ root: webRoot, csp }) as unknown as (r: GlobalRequest) => Promise<GlobalResponse>);
  session.defaultSession.setPermissionRequestHandler(denyAllPermissions);
  session.defaultSession.setPermissionCheckHandler(permissionCheck);

  const configFile = join(app.getPath('userData'), 'remote.json');
  const configText = await readFile(configFile, 'utf8').catch(() => undefined); // a small settings file, not a model
  remote = new RemoteProxy({ endpoints: loadRemoteConfig(process.env, configText, (m) => console.warn(`friday: ${m}`)) });

  registerIpc(ipcMain as unknown as IpcMainLike, {
    files,
    remote,
    isTrustedUrl: isAppUrl,
    bundledModelPath,
    async showOpenDialog(sender: SenderLike) {
      const win = BrowserWindow.getAllWindows().find((w) => w.webContents.id === sender.id);
      const options = { title: 'Open a GGUF model', properties: ['openFile' as const], filters: [{ name: 'GGUF models', extensions: ['gguf'] }] };
      const r = win ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
      return r.canceled ? undefined : r.filePaths[0];
    },
  });

  await createWindow();
  app.on('activate', () => { if (BrowserWindow.getAllWindows().length === 0) void createWindow(); });
}).catch((e: unknown) => {
  console.error('friday: failed to start', e);
  app.exit(1);
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});

app.on('will-quit', () => {
  void files.closeAll();
  void remote?.close();
});
