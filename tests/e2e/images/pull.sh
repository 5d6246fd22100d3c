#!/usr/bin/env bash
# The registry side of build.sh: pulls the public images the e2e tests run (the role map is
# tests/e2e/images.py: codercom/enterprise-base:ubuntu, docker:<pinned>-dind and -dind-rootless,
# busybox:<pinned>), saves busybox for nested `docker load` as $DIW_E2E_CACHE/busybox.tar, and
# records the choice for the tests (images.json). build.sh runs it when a registry answers; it
# needs no root, only a Docker engine (DOCKER_HOST defaults to .ci/dockerd.sh's private daemon).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGES_PY="$HERE/../images.py"
CACHE="${DIW_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/docker-in-workspaces}"
export DOCKER_HOST="${DOCKER_HOST:-unix://${DIW_DOCKERD_DIR:-/tmp/diw-dockerd}/docker.sock}"
T0=$SECONDS
log() { echo "[pull.sh] $*" >&2; }

docker version >/dev/null || { log "no Docker engine answers at $DOCKER_HOST (run .ci/dockerd.sh start)"; exit 1; }
mkdir -p "$CACHE"

mapfile -t names < <(DIW_E2E_CACHE="$CACHE" python3 "$IMAGES_PY" names registry)
[ ${#names[@]} -gt 0 ] || { log "images.py named no registry images"; exit 1; }
for name in "${names[@]}"; do
  t=$SECONDS
  # One retry: a registry that answered the probe may still drop a pull.
  docker pull -q "$name" >/dev/null || { log "retrying $name"; sleep 5; docker pull -q "$name" >/dev/null; }
  log "$(printf '%-36s %s (%ds)' "$name" "$(docker image inspect -f '{{index .RepoDigests 0}}' "$name")" "$((SECONDS - t))")"
done

busybox="$(python3 "$IMAGES_PY" name registry busybox)"
tar="$CACHE/busybox-image-registry.tar"
docker save -o "$tar.tmp" "$busybox"
mv "$tar.tmp" "$tar"
chmod a+r "$tar"
ln -sfn "$(basename "$tar")" "$CACHE/busybox.tar"
log "busybox image tar: $CACHE/busybox.tar ($busybox)"

DIW_E2E_CACHE="$CACHE" python3 "$IMAGES_PY" record registry pull.sh
printf '[pull.sh] done in %ds\n' "$((SECONDS - T0))"
