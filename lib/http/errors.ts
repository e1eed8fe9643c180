// Protocol errors with stable codes (GTS_ERR_*), shared with the native core.
import { native } from '../native.js';

export const ErrorCode = {
  INVALID_REQUEST_LINE: 1,
  INVALID_REQUEST_METHOD: 2,
  INVALID_HTTP_VERSION: 3,
  INVALID_HEADER: 4,
  INVALID_HEADER_NAME: 5,
  OBSOLETE_FOLDING: 6,
  LIMIT_REQUEST_LINE: 7,
  LIMIT_REQUEST_HEADERS: 8,
  UNSUPPORTED_TRANSFER_CODING: 9,
  INVALID_CHUNK_SIZE: 10,
  CHUNK_MISSING_TERMINATOR: 11,
  INVALID_CHUNK_EXTENSION: 12,
  INCOMPLETE_REQUEST: 13,
  INVALID_PROXY_LINE: 14,
  FORBIDDEN_PROXY_REQUEST: 15,
  EXPECTATION_FAILED: 16,
  REQUEST_BODY_TOO_LARGE: 17,
  INVALID_SCHEME_HEADERS: 18,
} as const;

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
