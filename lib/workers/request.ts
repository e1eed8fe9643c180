// The objects server hooks receive for a request, shaped like Gunicorn's
// http.message.Request (`req`) and http.wsgi.Response (`resp`).
import type { Environ, ResponseHeaders } from '../types.js';

export interface HookRequest {
  method: string;
  uri: string;
  path: string;
  query: string;
  fragment: string;
  version: [number, number];
  /** [UPPER-CASE-NAME, value] pairs, as Gunicorn's req.headers */
  headers: Array<[string, string]>;
  scheme: string;
  remote_addr: string;
}

export interface HookResponse {
  status: string;
  status_code: number;
  headers: ResponseHeaders;
  sent: number;
  response_length: number | null;
  headers_sent: boolean;
}

export function hookRequest(environ: Environ): HookRequest {
  const headers: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(environ)) {
    if (typeof v !== 'string') continue;
    if (k.startsWith('HTTP_')) headers.push([k.slice(5).replace(/_/g, '-'), v]);
    else if (k === 'CONTENT_TYPE' || k === 'CONTENT_LENGTH') headers.push([k.replace(/_/g, '-'), v]);
  }
  const raw = environ.RAW_URI;
  const hash = raw.indexOf('#');
  const m = /^HTTP\/(\d+)\.(\d+)$/.exec(environ.SERVER_PROTOCOL);
  return {
    method: environ.REQUEST_METHOD,
    uri: raw,
    path: environ.SCRIPT_NAME + environ.PATH_INFO,
    query: environ.QUERY_STRING,
    fragment: hash >= 0 ? raw.slice(hash + 1) : '',
    version: m ? [Number(m[1]), Number(m[2])] : [1, 1],
    headers,
    scheme: environ['wsgi.url_scheme'],
    remote_addr: environ.REMOTE_ADDR,
  };
}

export function hookResponse(status: string, headers: ResponseHeaders, sent: number): HookResponse {
  let length: number | null = null;
  for (const [k, v] of headers) if (k.toLowerCase() === 'content-length') length = Number(v);
  return {
    status,
    status_code: Number(status.trim().split(/\s+/, 1)[0]) || 0,
    headers,
    sent,
    response_length: length,
    headers_sent: status !== '',
  };
}
