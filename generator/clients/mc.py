"""The MinIO client's (`mc`) aliases: an endpoint and its keys that people already configured.

Read as mc and minio-py read them (minio/credentials/providers.py,
MinioClientConfigProvider): `$MC_CONFIG_DIR/config.json`, else `~/.mc/config.json`, its
`aliases` (`hosts` in older files) mapping a name to `url`, `accessKey`, `secretKey`; and
`MC_HOST_<alias>=https://ACCESS:SECRET@host`, which mc takes before the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from generator.errors import StorageError


@dataclass(frozen=True)
class Alias:
    name: str
    url: str
    access_key: str
    secret_key: str


def config_file() -> Path:
    return Path(os.environ.get("MC_CONFIG_DIR") or Path.home() / ".mc") / "config.json"


def _from_env(name: str) -> Alias | None:
    value = os.environ.get(f"MC_HOST_{name}")
    if not value:
        return None
    parts = urlsplit(value)
    url = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return Alias(name, url, unquote(parts.username or ""), unquote(parts.password or ""))


def _from_file() -> dict[str, Alias]:
    path = config_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise StorageError(f"{path}: not a readable mc configuration ({exc})") from None
    entries = (data.get("aliases") or data.get("hosts") or {}) if isinstance(data, dict) else {}
    return {
        name: Alias(
            name, str(e.get("url", "")), str(e.get("accessKey", "")), str(e.get("secretKey", ""))
        )
        for name, e in entries.items()
        if isinstance(e, dict) and e.get("url")
    }


def aliases() -> dict[str, Alias]:
    """Every alias: the configuration file's, then MC_HOST_* (which take precedence)."""
    found = _from_file()
    for key in os.environ:
        if key.startswith("MC_HOST_") and (alias := _from_env(key.removeprefix("MC_HOST_"))):
            found[alias.name] = alias
    return found


def find(name: str) -> Alias:
    """The alias of that name.

    Raises:
        StorageError: no such alias (the ones there are, and where they were read).
    """
    known = aliases()
    if name not in known:
        there = ", ".join(sorted(known)) or "none"
        raise StorageError(
            f"no mc alias {name!r} in {config_file()} or MC_HOST_{name} (aliases: {there})"
        )
    return known[name]


def for_url(url: str) -> Alias | None:
    """The alias whose URL is this endpoint, if any (so its keys can be used)."""
    wanted = url.rstrip("/")
    return next((a for a in aliases().values() if a.url.rstrip("/") == wanted), None)
