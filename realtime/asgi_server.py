"""``python -m realtime.asgi_server``: daphne, with tokens kept out of its access log.

The streams accept ``?token=<JWT>`` (browsers cannot set headers on WebSocket and
EventSource), and daphne's access log writes each HTTP request's path *with* its query
string. This entry point runs daphne's own command line unchanged, except that every
access-log line has ``token=…`` (and ``access_token=``) values replaced by ``[redacted]``.
Run the ASGI server through it (``config.launcher`` does); a reverse proxy in front must
be configured the same way (e.g. nginx ``log_format`` without ``$args`` for ``/api/``).
"""

from __future__ import annotations

import re

from daphne import cli, http_protocol
from daphne.access import AccessLogGenerator

_TOKEN = re.compile(r"((?:^|[?&])(?:access_)?token=)[^&\s]*", re.IGNORECASE)


def redact(path: str) -> str:
    return _TOKEN.sub(r"\1[redacted]", path)


class RedactingAccessLogGenerator(AccessLogGenerator):
    def __call__(self, protocol, action, details):
        if isinstance(details.get("path"), str):
            details = {**details, "path": redact(details["path"])}
        return super().__call__(protocol, action, details)


class RawBodyRequest(http_protocol.WebRequest):
    """daphne's request without Twisted's own parsing of form bodies.

    Twisted parses every POST form body into ``request.args``, which daphne never reads
    (Django parses the body it is handed), and answers a multipart body it cannot parse
    (one with no parts) with a bare 400 of its own: no envelope, no request id.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._parsePOSTFormSubmission = False


def main() -> None:
    cli.AccessLogGenerator = RedactingAccessLogGenerator  # what CommandLineInterface instantiates
    http_protocol.WebRequest = RawBodyRequest  # what HTTPFactory.buildProtocol instantiates
    cli.CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
