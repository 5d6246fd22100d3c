#!/usr/bin/env bash
# Builds diw-test/unprivileged:latest, the workspace image of the `podman` and `dind-userns`
# strategies, from Debian packages (debootstrap + docker import). No public image has both engines
# set up for an unprivileged container, so build.sh runs this for either image source.
#
#   rootless Podman: podman, crun, conmon, catatonit, slirp4netns, fuse-overlayfs, the CNI plugins
#                    and dnsname (Compose service names), docker.io's CLI and docker-compose as the
#                    Docker API's clients
#   rootless dockerd: docker.io (dockerd-rootless.sh linked onto PATH), rootlesskit, iptables, iproute2
#   user coder (1000) with the subordinate range coder:1001:64535 in /etc/subuid and /etc/subgid:
#                    it fits in the 65536 ids a Kubernetes pod with hostUsers: false gets (a range
#                    above 65535, like useradd's coder:100000:65536, makes newuidmap fail there)
#   newuidmap/newgidmap with file capabilities (cap_setuid+ep / cap_setgid+ep, mode 0755) instead of
#                    Debian's setuid bit, and a tarball made with --xattrs-include=security.capability
#                    so `docker import` keeps them
#
# No sudo: the image is for containers that are not privileged. The Podman and storage
# configuration is written by components/scripts/start-docker.sh (mode podman), not baked in here.
# Same cache and key scheme as build.sh ($DIW_E2E_CACHE; key from the package list and this file).
set -euo pipefail

SUITE="${DIW_E2E_SUITE:-bookworm}"
CACHE="${DIW_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/docker-in-workspaces}"
IMAGE="${DIW_E2E_UNPRIVILEGED_IMAGE:-diw-test/unprivileged:latest}"
export DOCKER_HOST="${DOCKER_HOST:-unix://${DIW_DOCKERD_DIR:-/tmp/diw-dockerd}/docker.sock}"
PACKAGES=(
  podman crun conmon catatonit slirp4netns fuse-overlayfs uidmap libcap2-bin
  containernetworking-plugins golang-github-containernetworking-plugin-dnsname
  docker.io docker-compose rootlesskit iptables iproute2 procps ca-certificates curl
)

T0=$SECONDS
log() { echo "[build-unprivileged.sh] $*" >&2; }
[ "$(id -u)" -eq 0 ] || { log "must run as root (debootstrap, chroot, setcap)"; exit 1; }
MIRROR="${1:?usage: build-unprivileged.sh MIRROR}"
docker version >/dev/null || { log "no Docker engine answers at $DOCKER_HOST"; exit 1; }

mkdir -p "$CACHE"
ARCH="$(dpkg --print-architecture)"
KEY="$( { echo "$SUITE $ARCH"; printf '%s\n' "${PACKAGES[@]}"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)"
TAR="$CACHE/unprivileged-$SUITE-$KEY.tar"

if [ ! -s "$TAR" ]; then
  t=$SECONDS
  WORK="$(mktemp -d "$CACHE/unprivileged.XXXXXX")"
  cleanup_work() {
    awk -v d="$WORK/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$WORK"
  }
  trap cleanup_work EXIT
  include="$(IFS=,; echo "${PACKAGES[*]}")"
  debootstrap --variant=minbase --include="$include" "$SUITE" "$WORK/rootfs" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || { tail -n 40 "$WORK/debootstrap.log" >&2; exit 1; }
  R="$WORK/rootfs"
  chroot "$R" useradd --create-home --uid 1000 --user-group --shell /bin/bash coder
  echo 'coder:1001:64535' >"$R/etc/subuid"
  echo 'coder:1001:64535' >"$R/etc/subgid"
  # Debian's setuid newuidmap fails in a container without CAP_SYS_ADMIN ("write to uid_map
  # failed: Operation not permitted"); file capabilities work, and need no root.
  chmod 0755 "$R/usr/bin/newuidmap" "$R/usr/bin/newgidmap"
  setcap cap_setuid+ep "$R/usr/bin/newuidmap"
  setcap cap_setgid+ep "$R/usr/bin/newgidmap"
  # `docker pull alpine` means Docker Hub, as it does for Docker.
  printf 'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n' \
    >"$R/etc/containers/registries.conf"
  install -d -m 0700 -o 1000 -g 1000 "$R/run/user/1000"
  install -d -o 1000 -g 1000 "$R/home/coder/.local" "$R/home/coder/.local/share" \
    "$R/home/coder/.local/share/docker" "$R/home/coder/.local/share/containers" "$R/home/coder/.config"
  for s in dockerd-rootless.sh dockerd-rootless-setuptool.sh; do
    ln -sf "/usr/share/docker.io/contrib/$s" "$R/usr/local/bin/$s"
  done
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* \
    "$R"/usr/share/doc/* "$R"/usr/share/man/* "$R"/usr/share/locale/* "$R"/var/log/*.log
  : >"$R/etc/resolv.conf"
  echo workspace >"$R/etc/hostname"
  tar --numeric-owner --xattrs --xattrs-include='security.capability' --acls -C "$R" -cf "$TAR.tmp" .
  mv "$TAR.tmp" "$TAR"
  rm -rf "$WORK"; trap - EXIT
  log "rootfs built in $((SECONDS - t))s"
else
  log "cached: $TAR"
fi

if [ "$(docker image inspect -f '{{index .Config.Labels "diw.cache-key"}}' "$IMAGE" 2>/dev/null || true)" != "$KEY" ]; then
  old="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
  docker import \
    --change "LABEL diw.cache-key=$KEY" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'USER coder' \
    --change 'WORKDIR /home/coder' \
    --change 'CMD ["sleep", "infinity"]' \
    "$TAR" "$IMAGE" >/dev/null
  [ -n "$old" ] && { docker rmi "$old" >/dev/null 2>&1 || true; }
  log "imported $IMAGE"
else
  log "up to date: $IMAGE (key $KEY)"
fi
# The file capabilities must have survived the import.
caps="$(docker run --rm --user 0 --entrypoint getcap "$IMAGE" /usr/bin/newuidmap /usr/bin/newgidmap 2>/dev/null || true)"
case "$caps" in
  *newuidmap*cap_setuid*newgidmap*cap_setgid*) ;;
  *) log "newuidmap/newgidmap lost their file capabilities in $IMAGE: '$caps'"; exit 1 ;;
esac
find "$CACHE" -maxdepth 1 -type f -name 'unprivileged-*.tar' ! -name "*-$KEY.tar" -print -delete |
  sed 's/^/[build-unprivileged.sh] removed old /' >&2
printf '[build-unprivileged.sh] done in %ds\n' "$((SECONDS - T0))"
