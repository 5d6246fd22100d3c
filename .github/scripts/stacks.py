#!/usr/bin/env python3
"""The project's stacks, from its Pulumi.<stack>.yaml files: what the preview matrix and the render diff run over.

    stacks.py DIR [DIR...]          stack names found in any DIR, sorted, one a line (the render diff: base and head)
    stacks.py --github-output DIR   the preview job's matrix, written to $GITHUB_OUTPUT as
                                    matrix={"include": [{"stack", "target", "policy_config"}, ...]} and count=N

`target` is the stack's `docker-in-workspaces:target` (default: Pulumi.yaml's, else docker): the preview writes
a kubeconfig for `kubernetes` stacks only. `policy_config` is policy/config.<stack>.json when it exists, else ""
(the policy pack then runs with its own defaults: every policy mandatory, nothing exempt), with a notice saying so.

A stack name that Pulumi would not accept (or that could carry shell syntax) is an error, never passed on.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

PROJECT = "docker-in-workspaces"
STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>.+)\.(?:yaml|yml)$")
VALID_STACK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def stacks(*directories: Path) -> list[str]:
    found: set[str] = set()
    for directory in directories:
        for path in directory.glob("Pulumi.*"):
            match = STACK_FILE.match(path.name)
            if not match:
                continue
            stack = match.group("stack")
            if not VALID_STACK.match(stack):
                raise ValueError(f"{path}: {stack!r} is not a stack name (letters, digits, '_', '.', '-')")
            found.add(stack)
    return sorted(found)


def _config(path: Path) -> dict[str, Any]:
    import yaml  # only the matrix needs it (PyYAML)

    document = yaml.safe_load(path.read_text()) if path.exists() else None
    return document if isinstance(document, dict) else {}


def target(directory: Path, stack: str) -> str:
    """The stack's target as the program reads it: its own config, else the project default."""
    stack_file = next(p for p in (directory / f"Pulumi.{stack}.{e}" for e in ("yaml", "yml")) if p.exists())
    value = (_config(stack_file).get("config") or {}).get(f"{PROJECT}:target")
    if value is None:
        default = ((_config(directory / "Pulumi.yaml").get("config") or {}).get("target") or {}).get("default")
        value = default or "docker"
    return value.get("value", value) if isinstance(value, dict) else str(value)


def matrix(directory: Path) -> tuple[dict[str, list[dict[str, str]]], list[str]]:
    """The preview matrix, and notices for the log."""
    include, notices = [], []
    for stack in stacks(directory):
        config = Path("policy") / f"config.{stack}.json"
        if not (directory / config).is_file():
            notices.append(
                f"::notice title=No policy config for {stack}::policy/config.{stack}.json does not exist: the policy "
                "pack runs with its defaults (every policy mandatory, nothing exempt)"
            )
        include.append(
            {
                "stack": stack,
                "target": target(directory, stack),
                "policy_config": config.as_posix() if (directory / config).is_file() else "",
            }
        )
    return {"include": include}, notices


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--github-output":
        result, notices = matrix(Path(argv[1]))
        for notice in notices:
            print(notice)
        with open(os.environ["GITHUB_OUTPUT"], "a") as output:
            output.write(f"matrix={json.dumps(result, separators=(',', ':'))}\n")
            output.write(f"count={len(result['include'])}\n")
        print(f"stacks: {', '.join(e['stack'] for e in result['include']) or '(none)'}")
        return 0
    if argv and not argv[0].startswith("-"):
        print("\n".join(stacks(*map(Path, argv))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
