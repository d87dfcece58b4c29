"""Endpoint URLs people type (S3, OSCAR, Argo Server): never with credentials inside.

A `user:password@` part would be written into generated YAML, process lists and messages;
credentials go in Secrets and environment variables instead. `redact` is the last line of
defence for messages that quote a URL.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from generator.errors import OscarBatchError, SpecError

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


def redact(text: str) -> str:
    """`text` with the user-info part of every URL in it replaced by `***`."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def no_credentials(
    url: str, what: str, instead: str, error: type[OscarBatchError] = SpecError
) -> str:
    """Return `url` unchanged, or refuse it when it carries `user[:password]@`.

    Args:
        url: the URL as given.
        what: what the URL is ("--oscar", "input.endpoint"), for the message.
        instead: where the credentials belong, for the message.
        error: the error class to raise.

    Raises:
        error: the URL holds credentials.
    """
    try:
        has_userinfo = "@" in urlsplit(url).netloc
    except ValueError:
        has_userinfo = _USERINFO.search(url) is not None
    if has_userinfo or _USERINFO.match(url):
        raise error(f"{what} {redact(url)!r} has credentials in it; remove them and use {instead}")
    return url
