// The preload: a minimal typed bridge, `window.friday` (FridayBridge in lib/bridge-types.ts).
// Runs sandboxed (bundled to CommonJS; only 'electron' may be required), exposes functions only
// (never ipcRenderer itself), and every call maps to one fixed channel.
import { contextBridge, ipcRenderer } from 'electron';
import {
  BRIDGE_GLOBAL, BRIDGE_VERSION, Channels, isFinalMessage, type BridgeResult, type FridayBridge, type ModelFileInfo,
  type RemoteStatus, type RemoteStreamMessage,
} from './lib/bridge-types.js';

const listeners = new Map<string, (m: RemoteStreamMessage) => void>();
let nextId = 0;

ipcRenderer.on(Channels.remoteEvent, (_event, m: RemoteStreamMessage) => {
  const listener = typeof m?.id === 'string' ? listeners.get(m.id) : undefined;
  if (!listener) return;
  if (isFinalMessage(m)) listeners.delete(m.id);
  listener(m);
});

const bridge: FridayBridge = {
  version: BRIDGE_VERSION,
  platform: 'electron',
  openModelDialog: () => ipcRenderer.invoke(Channels.modelOpenDialog) as Promise<BridgeResult<ModelFileInfo | null>>,
  openBundledModel: () => ipcRenderer.invoke(Channels.modelOpenBundled) as Promise<BridgeResult<ModelFileInfo | null>>,
  readModel: (handle, offset, length) => ipcRenderer.invoke(Channels.modelRead, handle, offset, length) as Promise<BridgeResult<Uint8Array>>,
  closeModel: (handle) => ipcRenderer.invoke(Channels.modelClose, handle) as Promise<BridgeResult<null>>,
  remoteStatus: () => ipcRenderer.invoke(Channels.remoteStatus) as Promise<BridgeResult<RemoteStatus>>,
  configureRemote: (endpoints) => ipcRenderer.invoke(Channels.remoteConfigure, endpoints) as Promise<BridgeResult<RemoteStatus>>,
  remoteStart(start, onMessage) {
    const id = `s${++nextId}`;
    listeners.set(id, onMessage);
    ipcRenderer.send(Channels.remoteStart, { ...start, id });
    return id;
  },
  remoteAbort(id) {
    listeners.delete(id);
    ipcRenderer.send(Channels.remoteAbort, id);
  },
};

contextBridge.exposeInMainWorld(BRIDGE_GLOBAL, bridge);
