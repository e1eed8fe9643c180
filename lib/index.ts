export { serve, type ServerHandle, type ServeOptions } from './serve.js';
export type { Application, Environ, StartResponse, ResponseBody, ResponseHeaders, Chunk, WriteFn } from './types.js';
export { Input } from './http/input.js';
export { FileWrapper, type FileLike } from './http/file-wrapper.js';
export { ClientDisconnected, RequestError, ErrorCode } from './http/errors.js';
export { SettingError } from './config/validators.js';
export { SETTINGS, resolveSettings, defaults, type Settings, type SettingName } from './config/settings.js';
export { parseBind, BindError } from './listeners.js';
export { VERSION } from './version.js';
