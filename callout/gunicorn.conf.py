"""gunicorn's configuration for Callout (docs/deploy.md): ``gunicorn -c callout/gunicorn.conf.py
callout.wsgi``. Command-line options given after ``-c`` (--bind, --workers) take precedence.

gunicorn reads this file in its master process before forking workers, so the two changes to
gunicorn's own behaviour below apply to every worker.
"""

import json

import gunicorn.http.wsgi
import gunicorn.util

timeout = 30
graceful_timeout = 30

# The API documents urls of up to 4,096 characters in a GET query string, percent-encoded by
# the snippet: gunicorn's default request line (4,094 bytes) refused them with its own 414.
# 8,190 is the most gunicorn accepts (a larger value is silently lowered to it).
limit_request_line = 8190

# Refusals gunicorn makes before Django sees the request (a request line or headers over its
# limits, a malformed request) answer in the API's JSON error shape with CORS, so that the
# snippet on a customer's page can read them, instead of gunicorn's HTML page.
_CODES = {400: "invalid_request", 403: "forbidden", 414: "request_too_long",
          417: "expectation_failed", 431: "headers_too_large", 500: "server_error",
          501: "not_implemented"}  # fmt: skip
_MESSAGES = {
    414: "The request line is longer than 8,190 bytes; send a shorter url.",
    431: "The request headers are too large.",
}


def _write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    message = _MESSAGES.get(status_int) or f"{reason}."
    body = json.dumps(
        {"error": {"code": _CODES.get(status_int, "invalid_request"), "message": message}}
    )
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "Access-Control-Allow-Origin: *\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    gunicorn.util.write_nonblock(sock, (head + body).encode("latin-1"))


gunicorn.util.write_error = _write_json_error  # looked up on the module at each error

# No "Server: gunicorn" header: it tells a scanner which server and version to try.
_default_headers = gunicorn.http.wsgi.Response.default_headers


def _headers_without_server(self):  # type: ignore[no-untyped-def]
    return [line for line in _default_headers(self) if not line.startswith("Server:")]


gunicorn.http.wsgi.Response.default_headers = _headers_without_server
