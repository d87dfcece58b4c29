"""Authorization of a request as the apiserver's RBAC authorizer decides it (pure).

plugin/pkg/auth/authorizer/rbac/rbac.go, RBACAuthorizer.Authorize: the rules of every
ClusterRoleBinding, then of the RoleBindings of the request's namespace, whose subjects name
the user or one of its groups (appliesTo); a request is allowed when one rule matches its verb,
API group, resource and object name (pkg/apis/rbac/v1/evaluation_helpers.go). There is no deny
rule: what no rule allows is refused with the apiserver's 403 text
(endpoints/handlers/responsewriters/errors.go, forbiddenMessage).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from generator.local.objects import Objects


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]


# a request without credentials, when anonymous requests are enabled (the default)
ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))


def service_account(namespace: str, name: str) -> User:
    """The user a ServiceAccount's token authenticates as (serviceaccount.MakeUsername)."""
    return User(
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
    )


@dataclass(frozen=True)
class Request:
    """A resource request's attributes (what the apiserver's RequestInfo makes of the URL)."""

    verb: str
    group: str
    resource: str
    namespace: str = ""
    name: str = ""

    def qualified(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


def _applies(subject: dict[str, Any], user: User, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.name == f"system:serviceaccount:{namespace}:{name}"
    return False


def _rules(objects: Objects, user: User, namespace: str) -> Iterator[dict[str, Any]]:
    bindings = [(b, "") for b in objects.of("ClusterRoleBinding")]
    if namespace:
        bindings += [(b, namespace) for b in objects.of("RoleBinding", namespace)]
    for binding, where in bindings:
        if not any(_applies(s, user, where) for s in binding.get("subjects") or []):
            continue
        ref = binding.get("roleRef") or {}
        kind = str(ref.get("kind", ""))
        role = objects.get(kind, where if kind == "Role" else "", str(ref.get("name", "")))
        yield from (role or {}).get("rules") or []


def _matches(rule: dict[str, Any], req: Request) -> bool:
    verbs, groups = rule.get("verbs") or [], rule.get("apiGroups") or []
    resources, names = rule.get("resources") or [], rule.get("resourceNames") or []
    return (
        ("*" in verbs or req.verb in verbs)
        and ("*" in groups or req.group in groups)
        and ("*" in resources or req.resource in resources)
        # ResourceNameMatches: a rule with names never allows an unnamed request (a list)
        and (not names or req.name in names)
    )


def authorize(objects: Objects, user: User, req: Request) -> str | None:
    """None when allowed; else the 403 Status message the apiserver returns."""
    if any(_matches(rule, req) for rule in _rules(objects, user, req.namespace)):
        return None
    scope = f'in the namespace "{req.namespace}"' if req.namespace else "at the cluster scope"
    why = (
        f'User "{user.name}" cannot {req.verb} resource "{req.resource}"'
        f' in API group "{req.group}" {scope}'
    )
    # apierrors.NewForbidden(qualifiedResource, name, err)
    named = f' "{req.name}"' if req.name else ""
    return f"{req.qualified()}{named} is forbidden: {why}"


def request(method: str, path: str) -> Request | None:
    """The attributes of a resource request path (/api/v1/..., /apis/GROUP/VERSION/...);
    None for anything else. GET of a collection is `list`, of an object `get`."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = ""
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    resource, name = rest[0], rest[1] if len(rest) > 1 else ""
    verbs = {"GET": "get" if name else "list", "POST": "create", "PUT": "update",
             "PATCH": "patch", "DELETE": "delete" if name else "deletecollection"}  # fmt: skip
    return Request(verbs.get(method, method.lower()), group, resource, namespace, name)
