export { serve, type ServerHandle, type ServeOptions } from './serve.js';
export type { Application, Environ, StartResponse, ResponseBody, ResponseHeaders, Chunk, WriteFn } from './types.js';
export { Input } from './http/input.js';
export { earlyHints } from './http/fetch-request.js';
export type { FetchHandler } from './http/shape.js';
export { publish, WebSocketNotEnabled } from './http/websocket.js';
export type {
  FetchServer,
  FetchUpgradeOptions,
  ServerWebSocket,
  UpgradeFn,
  UpgradeOptions,
  WebSocketData,
  WebSocketHandlers,
} from './http/websocket.js';
export { FileWrapper, type FileLike } from './http/file-wrapper.js';
export { ClientDisconnected, RequestError, ErrorCode } from './http/errors.js';
export { SettingError } from './config/validators.js';
export { SETTINGS, resolveSettings, defaults, type Settings, type SettingName } from './config/settings.js';
export { parseBind, BindError } from './listeners.js';
export { VERSION } from './version.js';
export { BaseApplication, Application as CliApplication } from './app/base.js';
export { WSGIApplication } from './app/wsgiapp.js';
export { AppImportError, importApp } from './app/import.js';
export { Config } from './config/config.js';
export { Arbiter } from './arbiter/arbiter.js';
export { Worker } from './workers/worker.js';
export type { HookRequest, HookResponse } from './workers/request.js';
export { DirtyClient, getDirtyClient, closeDirtyClient } from './workers/dirty-client.js';
export {
  DirtyError,
  DirtyTimeoutError,
  DirtyConnectionError,
  DirtyWorkerError,
  DirtyAppError,
  DirtyAppNotFoundError,
  DirtyNoWorkersAvailableError,
  DirtyProtocolError,
} from './workers/dirty-protocol.js';
export type { DirtyWorker } from './workers/dirty-worker.js';
export type { DirtyPool, DirtyWorkerHandle } from './arbiter/dirty.js';
