// The IPC handlers of main, written against the small part of Electron's ipcMain and event
// objects they use, so they run (and are tested) without Electron. Every handler checks that the
// sender is our app page, validates its arguments, and answers with a BridgeResult (errors keep
// their FridayError code, which Electron's own error transport would lose).
import { FridayError, toFridayError } from '../../src/api/errors.js';
import { Channels, type BridgeResult, type ModelFileInfo, type RemoteStreamMessage } from './bridge-types.js';
import type { ModelFileRegistry } from './model-files.js';
import type { RemoteProxy } from './remote-proxy.js';
import { endpointsArg, handleArg, readArgs, remoteStartArg, streamIdArg } from './validate.js';

/** The part of Electron's WebContents the handlers use. */
export interface SenderLike {
  readonly id: number;
  send(channel: string, message: unknown): void;
  isDestroyed(): boolean;
  once(event: 'destroyed', listener: () => void): unknown;
}

/** The part of IpcMainInvokeEvent / IpcMainEvent the handlers use. */
export interface IpcEventLike {
  sender: SenderLike;
  senderFrame: { url: string } | null;
}

export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcEventLike, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
  on(channel: string, listener: (event: IpcEventLike, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (...args: never[]) => void): unknown;
}

export interface IpcDeps {
  files: ModelFileRegistry;
  remote: RemoteProxy;
  /** Shows the native open dialog for the sender's window; the chosen path, or undefined. */
  showOpenDialog(sender: SenderLike): Promise<string | undefined>;
  /** The bundled default model's path, when the app ships one. */
  bundledModelPath?: () => string | undefined;
  /** Whether a frame URL is our app (e.g. app://friday/...). Messages from anything else are refused. */
  isTrustedUrl(url: string): boolean;
}

const ok = <T>(value: T): BridgeResult<T> => ({ ok: true, value });
const err = (e: unknown): BridgeResult<never> => ({ ok: false, error: toFridayError(e).toJSON() });

/** The sender's owner id, after checking it is our app page; throws for anything else. */
type Trust = (ev: IpcEventLike) => number;

/** Registers every handler; returns a function that removes them. */
export function registerIpc(ipc: IpcMainLike, deps: IpcDeps): () => void {
  const trusted = senderGuard(deps);
  const channels = registerInvokes(ipc, deps, trusted);
  const { onStart, onAbort } = streamListeners(deps, trusted);
  ipc.on(Channels.remoteStart, onStart);
  ipc.on(Channels.remoteAbort, onAbort);
  return () => {
    for (const c of channels) ipc.removeHandler(c);
    ipc.removeListener(Channels.remoteStart, onStart);
    ipc.removeListener(Channels.remoteAbort, onAbort);
  };
}

function senderGuard(deps: IpcDeps): Trust {
  const watched = new Set<number>();
  return (ev) => {
    const url = ev.senderFrame?.url;
    if (!url || !deps.isTrustedUrl(url)) throw new FridayError('INVALID_REQUEST', 'This IPC channel only answers the Friday app page.');
    // The first message from a window: release its files and streams when it goes away.
    if (!watched.has(ev.sender.id)) {
      watched.add(ev.sender.id);
      const id = ev.sender.id;
      ev.sender.once('destroyed', () => {
        watched.delete(id);
        deps.remote.abortOwner(id);
        void deps.files.closeOwner(id);
      });
    }
    return ev.sender.id;
  };
}

/** The request/response channels (model files, remote settings); returns their names. */
function registerInvokes(ipc: IpcMainLike, deps: IpcDeps, trusted: Trust): string[] {
  const channels: string[] = [];
  const invoke = (channel: string, fn: (owner: number, ev: IpcEventLike, args: unknown[]) => Promise<unknown> | unknown) => {
    channels.push(channel);
    ipc.handle(channel, async (ev, ...args) => {
      try {
        return ok(await fn(trusted(ev), ev, args));
      } catch (e) {
        return err(e);
      }
    });
  };
  invoke(Channels.modelOpenDialog, async (owner, ev): Promise<ModelFileInfo | null> => {
    const path = await deps.showOpenDialog(ev.sender);
    return path ? deps.files.open(owner, path) : null;
  });
  invoke(Channels.modelOpenBundled, async (owner): Promise<ModelFileInfo | null> => {
    const path = deps.bundledModelPath?.();
    if (!path) return null;
    try {
      return await deps.files.open(owner, path);
    } catch (e) {
      if (FridayError.is(e, 'IO_ERROR')) return null; // not shipped (yet)
      throw e;
    }
  });
  invoke(Channels.modelRead, (owner, _ev, [handle, offset, length]) => {
    const a = readArgs(handle, offset, length);
    return deps.files.read(owner, a.handle, a.offset, a.length);
  });
  invoke(Channels.modelClose, async (owner, _ev, [handle]) => {
    await deps.files.close(owner, handleArg(handle));
    return null;
  });
  invoke(Channels.remoteStatus, () => deps.remote.status());
  invoke(Channels.remoteConfigure, (_owner, _ev, [endpoints]) => deps.remote.configure(endpointsArg(endpoints)));
  return channels;
}

/** Streams: fire-and-forget sends; everything comes back on remoteEvent. */
function streamListeners(deps: IpcDeps, trusted: Trust) {
  const onStart = (ev: IpcEventLike, msg: unknown) => {
    const sender = ev.sender;
    const send = (m: RemoteStreamMessage) => { if (!sender.isDestroyed()) sender.send(Channels.remoteEvent, m); };
    let owner: number;
    try {
      owner = trusted(ev);
    } catch {
      return; // not our page: no answer at all
    }
    let start;
    try {
      start = remoteStartArg(msg);
    } catch (e) {
      const id = typeof (msg as { id?: unknown })?.id === 'string' ? (msg as { id: string }).id.slice(0, 64) : '';
      send({ id, type: 'error', error: toFridayError(e).toJSON() });
      return;
    }
    deps.remote.start(owner, start, send);
  };
  const onAbort = (ev: IpcEventLike, id: unknown) => {
    try {
      deps.remote.abort(trusted(ev), streamIdArg(id));
    } catch {
      // an invalid abort has nothing to abort
    }
  };
  return { onStart, onAbort };
}
