"""An OSCAR cluster's REST API: GET a JSON document, and a service's definition.

A cluster is named as oscar-cli names it, by its id in oscar-cli's configuration file
(`~/.oscar-cli/config.yaml`, oscar-cli pkg/config/config.go: `oscar: {ID: {endpoint,
auth_user, auth_password, oidc_account_name, oidc_refresh_token, ssl_verify}}`), or by its
URL with `OSCAR_USER`/`OSCAR_PASSWORD` or `OSCAR_TOKEN`. A service's definition is what
the original OSCAR-Batch coordinator reads, `GET /system/services/<name>`: OSCAR's service
type as JSON, the script's text inline (oscar pkg/handlers/read.go).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from generator.errors import ClusterError
from generator.spec import urls
from generator.spec.yamlfile import read_yaml

CLI_CONFIG = "~/.oscar-cli/config.yaml"  # oscar-cli pkg/config/config.go defaultConfig
USER_ENV, PASSWORD_ENV, TOKEN_ENV = "OSCAR_USER", "OSCAR_PASSWORD", "OSCAR_TOKEN"


@dataclass(frozen=True, repr=False)  # no repr: it holds a password
class Cluster:
    """Where an OSCAR cluster answers and how to authenticate there."""

    endpoint: str
    user: str | None = None
    password: str | None = None
    token: str | None = None
    verify: bool = True


def cluster(ref: str, config: Path | None = None) -> Cluster:
    """The cluster `ref` names: a URL (credentials from the environment), or an id of the
    oscar-cli configuration file (`config`, default ~/.oscar-cli/config.yaml).

    Raises:
        ClusterError: no such file or id, or credentials this tool cannot use.
    """
    env_token = os.environ.get(TOKEN_ENV)
    if ref.startswith(("http://", "https://")):
        urls.no_credentials(ref, "service.oscar", f"{USER_ENV}/{PASSWORD_ENV}", ClusterError)
        return Cluster(ref, os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV), env_token)
    path = config or Path(CLI_CONFIG).expanduser()
    if not path.exists():
        raise ClusterError(
            f"service.oscar: {ref!r} is neither a URL nor known: no oscar-cli configuration"
            f" at {path} (add it with `oscar-cli cluster add`, or give the cluster's URL)"
        )
    doc = read_yaml(path, "oscar-cli configuration", error=ClusterError)
    clusters = doc.get("oscar") if isinstance(doc, dict) else None
    entry = clusters.get(ref) if isinstance(clusters, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("endpoint"), str):
        known = ", ".join(sorted(clusters)) if isinstance(clusters, dict) else "none"
        raise ClusterError(f"service.oscar: no cluster {ref!r} in {path} (it has: {known})")
    if (entry.get("oidc_account_name") or entry.get("oidc_refresh_token")) and not env_token:
        raise ClusterError(
            f"service.oscar: cluster {ref!r} signs in with OIDC, which needs the token"
            f" issuer; set {TOKEN_ENV} to an access token"
        )
    verify = entry.get("ssl_verify")
    return Cluster(
        str(entry["endpoint"]),
        str(entry.get("auth_user") or "") or None,
        str(entry.get("auth_password") or "") or None,
        env_token,
        verify is not False and str(verify).lower() != "false",
    )


def get_json(where: Cluster, path: str) -> Any:
    """GET <endpoint><path> with the cluster's basic or bearer auth, as JSON.

    Raises:
        ClusterError: unreachable, refused, another status, or not JSON (one line).
    """
    import urllib3

    headers = (
        urllib3.make_headers(basic_auth=f"{where.user}:{where.password or ''}")
        if where.user
        else {}
    )
    if where.token:
        headers["Authorization"] = f"Bearer {where.token}"
    at = where.endpoint
    pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED" if where.verify else "CERT_NONE")
    try:
        response = pool.request(
            "GET", at.rstrip("/") + path, headers=headers, timeout=30, retries=3
        )
    except urllib3.exceptions.HTTPError as exc:
        raise ClusterError(f"cannot reach OSCAR at {at}: {type(exc).__name__}") from None
    finally:
        pool.clear()
    if response.status in (401, 403):
        raise ClusterError(f"OSCAR at {at} refused the credentials ({response.status})")
    if response.status != 200:
        raise ClusterError(f"OSCAR at {at} answered {response.status} to {path}")
    try:
        return json.loads(response.data)
    except (ValueError, RecursionError):
        raise ClusterError(f"OSCAR at {at}: {path} is not JSON") from None


def service(ref: str, name: str) -> tuple[str, dict[str, Any]]:
    """(where it was read, the service's definition) from the cluster `ref` names.

    Raises:
        ClusterError: as `cluster` and `get_json`, or the answer is not a service.
    """
    where = cluster(ref)
    path = f"/system/services/{quote(name, safe='')}"
    doc = get_json(where, path)
    if not isinstance(doc, dict) or not isinstance(doc.get("script"), str):
        raise ClusterError(f"OSCAR at {where.endpoint}: {path} is not a service definition")
    return where.endpoint.rstrip("/") + path, doc
