// Protocol errors with stable codes (GTS_ERR_*), shared with the native core.
import { native } from '../native.js';

/** The GTS_ERR_* names (without the prefix) of native/src/errors.h. */
export type ErrorName =
  | 'INVALID_REQUEST_LINE'
  | 'INVALID_REQUEST_METHOD'
  | 'INVALID_HTTP_VERSION'
  | 'INVALID_HEADER'
  | 'INVALID_HEADER_NAME'
  | 'OBSOLETE_FOLDING'
  | 'LIMIT_REQUEST_LINE'
  | 'LIMIT_REQUEST_HEADERS'
  | 'UNSUPPORTED_TRANSFER_CODING'
  | 'INVALID_CHUNK_SIZE'
  | 'CHUNK_MISSING_TERMINATOR'
  | 'INVALID_CHUNK_EXTENSION'
  | 'INCOMPLETE_REQUEST'
  | 'INVALID_PROXY_LINE'
  | 'FORBIDDEN_PROXY_REQUEST'
  | 'EXPECTATION_FAILED'
  | 'REQUEST_BODY_TOO_LARGE'
  | 'INVALID_SCHEME_HEADERS'
  | 'BODY_TIMEOUT'
  | 'REQUEST_TIMEOUT'
  | 'BAD_WEBSOCKET_HANDSHAKE'
  | 'WEBSOCKET_VERSION'
  | 'INVALID_H2C_PREFACE';

/** Error numbers by name, read from the table the addon exports (its index is the number). */
export const ErrorCode: Readonly<Record<ErrorName, number>> = Object.freeze(
  Object.fromEntries(
    native.errors.flatMap((e, i) => (e.code.startsWith('GTS_ERR_') ? [[e.code.slice('GTS_ERR_'.length), i]] : [])),
  ) as Record<ErrorName, number>,
);

export function errorInfo(code: number) {
  return native.errors[code] ?? { code: 'GTS_ERR_UNKNOWN', status: 400, reason: 'Bad Request' };
}

/** An error raised to the application, e.g. by wsgi.input when the request body is malformed. */
export class RequestError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: number, message?: string) {
    const info = errorInfo(code);
    super(message ?? `${info.code}: ${info.reason}`);
    this.code = info.code;
    this.status = info.status;
  }
}

export class ClientDisconnected extends Error {
  readonly code = 'GTS_ERR_CLIENT_DISCONNECTED';
  constructor() {
    super('client disconnected');
  }
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#x27;' };

/** Gunicorn's util.write_error page. */
export function errorPage(reason: string, message: string): string {
  const mesg = message.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
  return `<html>\n  <head>\n    <title>${reason}</title>\n  </head>\n  <body>\n    <h1><p>${reason}</p></h1>\n    ${mesg}\n  </body>\n</html>\n`;
}
