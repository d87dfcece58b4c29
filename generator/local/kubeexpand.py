"""Kubernetes' `$(VAR)` expansion of env values, command and args, as a pure function.

kubernetes/third_party/forked/golang/expansion/expand.go (Expand, tryReadVariableName):
`$$` is an escaped `$`; `$(NAME)` is replaced when NAME is defined, else left as written;
a `$` followed by anything else is kept with that character; an unclosed `$(` is kept.
"""

from __future__ import annotations

from collections.abc import Mapping


def expand(text: str, env: Mapping[str, str]) -> str:
    """`text` with `$(VAR)` references from `env` expanded and `$$` turned into `$`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end < 0:
                # expand.go: an unterminated reference is written back as it is
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            out.append(env.get(name, f"$({name})"))
            i = end + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def environment(entries: list[tuple[str, str]], base: Mapping[str, str]) -> dict[str, str]:
    """A container's environment in order: each value expanded against `base` (what Kubernetes
    adds, e.g. the service variables) and the entries before it (kubelet makeEnvironmentVariables).
    """
    env: dict[str, str] = dict(base)
    for name, value in entries:
        env[name] = expand(value, env)
    return env
