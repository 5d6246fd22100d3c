"""The Docker host's resources as one compose file (`docker-compose.yaml`) for review: containers as services,
volumes as volumes, uploaded (secret) files as `configs:` with inline content, and the start script inline in
the entrypoints (written once, then YAML aliases). components/render.py writes it with its header.
"""

from __future__ import annotations

from typing import Any, Optional

from .documents import PLACEHOLDER, Octal, dump_yaml, ints, map_tree, redact, share_long_text
from .recording import Recorded, is_secret

CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"


def _compose_escape(value: Any) -> Any:
    """Compose interpolates `$`: a literal dollar is `$$`."""
    return map_tree(value, lambda leaf: leaf.replace("$", "$$") if isinstance(leaf, str) else leaf)


def _unwrap(value: Any) -> Any:
    while is_secret(value):
        value = value.get("value")
    return value


def _environment(envs: Any) -> dict[str, str]:
    """`KEY=value` items as a mapping. A secret item shows its name (never secret) and the placeholder; when the
    whole list is secret (one secret item makes Pulumi mark all of them), so is every value."""
    all_secret = is_secret(envs)
    env: dict[str, str] = {}
    for item in _unwrap(envs) or []:
        key, _, value = str(_unwrap(item)).partition("=")
        env[key] = PLACEHOLDER if all_secret or is_secret(item) else value
    return env


def _labels(items: Optional[list[dict[str, Any]]]) -> dict[str, str]:
    return {str(i["label"]): str(i["value"]) for i in items or []}


def compose_document(stack: str, records: list[Recorded], project: str) -> tuple[str, dict[str, str]]:
    """docker-compose.yaml's text, and the files it references (uploaded scripts) by name."""
    containers = [r for r in records if r.type == CONTAINER]
    volumes = [r for r in records if r.type == VOLUME]
    by_urn = {r.urn: r for r in containers}
    by_id = {r.name: r for r in containers}  # the mocks' id is the logical name
    configs: dict[str, dict[str, Any]] = {}
    files: dict[str, str] = {}
    services: dict[str, Any] = {}

    def config_for(upload: dict[str, Any], secret: bool) -> str:
        # Inline content (compose's `configs.<name>.content`): uploads are secret files, rendered as the placeholder.
        base = str(_unwrap(upload["file"])).rsplit("/", 1)[-1].replace(".", "-")
        content = PLACEHOLDER if secret or is_secret(upload["content"]) else str(upload["content"])
        name, n = base, 1
        while name in configs and configs[name]["content"] != content:
            n += 1
            name = f"{base}-{n}"
        configs[name] = {"content": content}
        return name

    for record in containers:
        inputs = ints(record.raw_inputs)
        name = str(redact(inputs.get("name") or record.name))
        service: dict[str, Any] = {"container_name": name, "image": redact(inputs.get("image"))}
        plain = redact(inputs)
        for key, compose_key in (("entrypoints", "entrypoint"), ("command", "command"), ("runtime", "runtime")):
            if key in plain:
                service[compose_key] = plain[key]
        if inputs.get("envs"):
            service["environment"] = _environment(inputs["envs"])
        for key in ("privileged", "init", "restart", "user"):
            if key in plain:
                service[key] = plain[key]
        if plain.get("groupAdds"):
            service["group_add"] = plain["groupAdds"]
        if plain.get("cgroupnsMode"):
            service["cgroup"] = plain["cgroupnsMode"]
        if plain.get("hosts"):
            service["extra_hosts"] = [f"{h['host']}:{h['ip']}" for h in plain["hosts"]]
        if plain.get("mounts"):
            service["volumes"] = [
                {"type": m["type"], "source": m["source"], "target": m["target"]}
                | ({"read_only": True} if m.get("readOnly") else {})
                for m in plain["mounts"]
            ]
        network_mode = plain.get("networkMode")
        if isinstance(network_mode, str) and network_mode.startswith("container:"):
            owner = by_id.get(network_mode.removeprefix("container:"))
            if owner is not None:
                network_mode = f"service:{owner.raw_inputs.get('name') or owner.name}"
        if network_mode:
            service["network_mode"] = network_mode
        if plain.get("healthcheck"):
            check = plain["healthcheck"]
            service["healthcheck"] = {
                compose_key: check[key]
                for key, compose_key in (
                    ("tests", "test"),
                    ("interval", "interval"),
                    ("timeout", "timeout"),
                    ("retries", "retries"),
                    ("startPeriod", "start_period"),
                    ("startInterval", "start_interval"),
                )
                if key in check
            }
        depends = {}
        for urn in record.dependencies:
            owner = by_urn.get(urn)
            if owner is not None:
                owner_name = str(owner.raw_inputs.get("name") or owner.name)
                if owner.raw_inputs.get("attach"):  # runs to completion first (a preflight check)
                    condition = "service_completed_successfully"
                elif owner.raw_inputs.get("healthcheck"):
                    condition = "service_healthy"
                else:
                    condition = "service_started"
                depends[owner_name] = {"condition": condition}
        if depends:
            service["depends_on"] = depends
        if inputs.get("uploads"):
            secret_uploads = is_secret(inputs["uploads"])
            service["configs"] = [
                {
                    "source": config_for(_unwrap(upload), secret_uploads or is_secret(upload)),
                    "target": _unwrap(_unwrap(upload)["file"]),
                    "mode": Octal(0o555 if _unwrap(_unwrap(upload).get("executable")) else 0o444),
                }
                for upload in _unwrap(inputs["uploads"])
            ]
        if plain.get("labels"):
            service["labels"] = _labels(plain["labels"])
        services[name] = service

    compose_volumes: dict[str, Any] = {}
    for record in volumes:
        plain = redact(record.raw_inputs)
        name = str(plain.get("name") or record.name)
        volume: dict[str, Any] = {"name": name, "external": False}
        if plain.get("labels"):
            volume["labels"] = _labels(plain["labels"])
        if plain.get("driver"):
            volume["driver"] = plain["driver"]
        volume["x-retain-on-delete"] = record.retain_on_delete
        compose_volumes[name] = volume

    # The inlined start script appears in several containers' entrypoints: once in the file, aliased elsewhere.
    document: dict[str, Any] = {"name": f"{project}-{stack}", "services": share_long_text(_compose_escape(services))}
    if compose_volumes:
        document["volumes"] = _compose_escape(compose_volumes)
    if configs:
        document["configs"] = configs
    return dump_yaml(document), files
