// log_format = 'json': one JSON object per line for the error log and the
// access log (Loki, ELK, CloudWatch and Gunicorn's logconfig_json users expect
// this). JSON.stringify escapes control characters, so one record is one line.
// The access log's JSON record is jsonAccessLine() in access.ts (with its atoms).
/** an error log record */
export function jsonErrorLine(level: string, msg: string, pid: number, exc?: string): string {
  const o: Record<string, unknown> = { time: new Date().toISOString(), level, pid, logger: 'gunicorn.error', msg };
  if (exc !== undefined) o.exc_info = exc;
  return `${JSON.stringify(o)}\n`;
}
