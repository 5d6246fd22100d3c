#!/usr/bin/env bash
# Prepares the end-to-end test images. Where a registry answers (tests/e2e/images.py probes it,
# 5 s; DIW_E2E_IMAGES=local|registry forces the choice), it hands over to pull.sh, which pulls the
# public images users run. Otherwise it builds stand-ins locally, with no image registry:
#
#   diw-test/workspace:latest  Debian bookworm (debootstrap minbase) with
#                              docker.io, rootlesskit, ... and user coder (1000)
#   diw-test/docker-only:latest  the workspace image without the rootless extras
#                              (no rootlesskit, slirp4netns, newuidmap, dockerd-rootless.sh)
#                              and running as coder: shaped like codercom/enterprise-base
#   diw-test/busybox:latest    /bin/busybox from Debian's busybox-static, for
#                              nested `docker run`; also saved to busybox.tar
#   diw-test/unprivileged:latest  rootless Podman and rootless dockerd for unprivileged
#                              containers (strategies podman, dind-userns): built by
#                              build-unprivileged.sh for either source (no public image fits)
#
# Usage: tests/e2e/images/build.sh            (DOCKER_HOST defaults to the
#        private daemon of .ci/dockerd.sh)
#
# The rootfs tarballs are cached in $DIW_E2E_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/docker-in-workspaces) under a key made from
# the package list and this script; an image whose diw.cache-key label already
# matches is not imported again. The Debian mirror is read from this machine's
# apt configuration at run time. Must run as root (debootstrap); needs
# debootstrap (installed with apt-get when missing).
set -euo pipefail

SUITE="${DIW_E2E_SUITE:-bookworm}"
CACHE="${DIW_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/docker-in-workspaces}"
WORKSPACE_IMAGE="${DIW_E2E_WORKSPACE_IMAGE:-diw-test/workspace:latest}"
BUSYBOX_IMAGE="${DIW_E2E_BUSYBOX_IMAGE:-diw-test/busybox:latest}"
DOCKER_ONLY_IMAGE="${DIW_E2E_DOCKER_ONLY_IMAGE:-diw-test/docker-only:latest}"
export DOCKER_HOST="${DOCKER_HOST:-unix://${DIW_DOCKERD_DIR:-/tmp/diw-dockerd}/docker.sock}"

# What the workspace image needs: a Docker engine (rootful and rootless), the
# tools rootlesskit and the nested daemon call (ip, iptables, newuidmap,
# fuse-overlayfs, slirp4netns), and basics for tests (sudo, ps, curl).
WORKSPACE_PACKAGES=(
  docker.io containerd runc tini
  rootlesskit slirp4netns uidmap iproute2 fuse-overlayfs
  iptables kmod sudo procps ca-certificates curl xz-utils
  docker-compose
)
BUSYBOX_PACKAGE=busybox-static

T0=$SECONDS
timing() { printf '[build.sh] %-40s %4ds (total %ds)\n' "$1" "$((SECONDS - $2))" "$((SECONDS - T0))"; }
log() { echo "[build.sh] $*" >&2; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGES_PY="$HERE/../images.py"
# The workspace image of podman and dind-userns is built locally for either source (no public
# image fits); DIW_E2E_SKIP_UNPRIVILEGED=1 leaves it out (their e2e tests then skip, saying so).
build_unprivileged() {
  if [ "${DIW_E2E_SKIP_UNPRIVILEGED:-0}" = 1 ]; then
    log "not building diw-test/unprivileged (DIW_E2E_SKIP_UNPRIVILEGED=1): the podman and dind-userns e2e tests will skip"
    return 0
  fi
  DIW_E2E_CACHE="$CACHE" bash "$HERE/build-unprivileged.sh" "$MIRROR"
}

SOURCE="$(python3 "$IMAGES_PY" source)"
case "$SOURCE" in
  registry)
    bash "$HERE/pull.sh"
    [ "${DIW_E2E_SKIP_UNPRIVILEGED:-0}" = 1 ] && { build_unprivileged; exit 0; }
    ;;
  local) ;;
  *) log "tests/e2e/images.py could not choose an image source"; exit 1 ;;
esac

[ "$(id -u)" -eq 0 ] || { log "must run as root (debootstrap, chroot)"; exit 1; }

# --- the Debian mirror, from this machine's apt configuration ---------------
apt_mirror() {
  local f uri
  # deb822 sources: the URIs of a stanza of Types deb whose Suites has $SUITE.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri="$(awk -v suite="$SUITE" '
      function flush() {
        if (deb && has && uri != "" && out == "") out = uri
        deb = 0; has = 0; uri = ""
      }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]*#/ { next }
      tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
      tolower($1) == "uris:"  { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) has = 1 }
      END { flush(); print out }' "$f")"
    [ -n "$uri" ] && { echo "$uri"; return 0; }
  done
  # one-line sources: deb [options] URI SUITE COMPONENTS...
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri="$(awk -v suite="$SUITE" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit }
      }' "$f")"
    [ -n "$uri" ] && { echo "$uri"; return 0; }
  done
  return 1
}

MIRROR="${DIW_E2E_MIRROR:-$(apt_mirror || true)}"
if [ -z "$MIRROR" ] && [ "$SOURCE" = registry ]; then
  # A registry answers, so the network does: an Ubuntu runner has no Debian source of its own.
  MIRROR=http://deb.debian.org/debian
  log "no 'deb' source for $SUITE in /etc/apt; using $MIRROR for diw-test/unprivileged"
fi
[ -n "$MIRROR" ] || { log "no 'deb' source for $SUITE found in /etc/apt; set DIW_E2E_MIRROR"; exit 1; }

# debootstrap checks Debian's Release signatures with debian-archive-keyring (not on an Ubuntu host by default).
need_packages=()
command -v debootstrap >/dev/null 2>&1 || need_packages+=(debootstrap)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need_packages+=(debian-archive-keyring)
command -v setcap >/dev/null 2>&1 || need_packages+=(libcap2-bin)  # build-unprivileged.sh: file capabilities
if [ ${#need_packages[@]} -gt 0 ]; then
  t=$SECONDS
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" >&2
  timing "apt-get install ${need_packages[*]}" $t
fi
docker version >/dev/null || { log "no Docker engine answers at $DOCKER_HOST (run .ci/dockerd.sh start)"; exit 1; }
if [ "$SOURCE" = registry ]; then
  build_unprivileged
  exit 0
fi

mkdir -p "$CACHE"
ARCH="$(dpkg --print-architecture)"
KEY="$( { echo "$SUITE $ARCH"; printf '%s\n' "${WORKSPACE_PACKAGES[@]}" "$BUSYBOX_PACKAGE"; cat "${BASH_SOURCE[0]}"; } |
  sha256sum | cut -c1-16)"
log "mirror $MIRROR, cache $CACHE, key $KEY, DOCKER_HOST $DOCKER_HOST"

image_key() { docker image inspect -f '{{index .Config.Labels "diw.cache-key"}}' "$1" 2>/dev/null || true; }

# --- workspace rootfs --------------------------------------------------------
WS_TAR="$CACHE/workspace-$SUITE-$KEY.tar"
if [ ! -s "$WS_TAR" ]; then
  t=$SECONDS
  WORK="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  # A failed debootstrap can leave proc/sys/dev mounted in the target.
  cleanup_work() {
    awk -v d="$WORK/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$WORK"
  }
  trap cleanup_work EXIT
  include="$(IFS=,; echo "${WORKSPACE_PACKAGES[*]}")"
  debootstrap --variant=minbase --include="$include" "$SUITE" "$WORK/rootfs" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || { tail -n 40 "$WORK/debootstrap.log" >&2; exit 1; }
  timing "debootstrap $SUITE (cold)" $t

  t=$SECONDS
  R="$WORK/rootfs"
  # user coder (uid 1000): passwordless sudo, in group docker. useradd writes
  # its own /etc/subuid and /etc/subgid ranges; a second, overlapping range
  # would break newuidmap, so none is added here.
  chroot "$R" useradd --create-home --uid 1000 --user-group --shell /bin/bash \
    --groups sudo,docker coder
  echo 'coder ALL=(ALL) NOPASSWD:ALL' >"$R/etc/sudoers.d/coder"
  chmod 0440 "$R/etc/sudoers.d/coder"
  grep -q '^coder:' "$R/etc/subuid" || { log "useradd wrote no subuid range for coder"; exit 1; }
  grep -q '^coder:' "$R/etc/subgid" || { log "useradd wrote no subgid range for coder"; exit 1; }
  # The rootless daemon's runtime dir (no logind in a container to make it).
  install -d -m 0700 -o 1000 -g 1000 "$R/run/user/1000"
  install -d -o 1000 -g 1000 "$R/home/coder/.local" "$R/home/coder/.local/share" \
    "$R/home/coder/.local/share/docker"
  # Debian ships dockerd-rootless.sh as contrib only: put it on PATH.
  for s in dockerd-rootless.sh dockerd-rootless-setuptool.sh; do
    [ -f "$R/usr/share/docker.io/contrib/$s" ] && ln -sf "/usr/share/docker.io/contrib/$s" "$R/usr/local/bin/$s"
  done
  # Smaller image: no package caches, lists or docs.
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* \
    "$R"/usr/share/doc/* "$R"/usr/share/man/* "$R"/usr/share/locale/* "$R"/var/log/*.log
  : >"$R/etc/resolv.conf"
  echo workspace >"$R/etc/hostname"
  tar --numeric-owner --xattrs --acls -C "$R" -cf "$WS_TAR.tmp" .
  mv "$WS_TAR.tmp" "$WS_TAR"
  rm -rf "$WORK"; trap - EXIT
  timing "customise + tar workspace rootfs" $t
else
  log "cached: $WS_TAR"
fi

# --- busybox rootfs ----------------------------------------------------------
BB_TAR="$CACHE/busybox-rootfs-$KEY.tar"
if [ ! -s "$BB_TAR" ]; then
  t=$SECONDS
  WORK="$(mktemp -d "$CACHE/busybox.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
  # apt-get download uses this machine's apt sources (the same mirror).
  (cd "$WORK" && apt-get download -q "$BUSYBOX_PACKAGE" >/dev/null 2>&1) ||
    { apt-get update -qq && (cd "$WORK" && apt-get download -q "$BUSYBOX_PACKAGE" >/dev/null); }
  dpkg-deb -x "$WORK"/${BUSYBOX_PACKAGE}_*.deb "$WORK/deb"
  R="$WORK/rootfs"
  mkdir -p "$R/bin" "$R/sbin" "$R/usr/bin" "$R/usr/sbin" "$R/etc" "$R/tmp" "$R/var/www" "$R/root"
  cp "$WORK/deb/bin/busybox" "$R/bin/busybox"
  for applet in $("$R/bin/busybox" --list-full); do
    [ -e "$R/$applet" ] || ln -s /bin/busybox "$R/$applet"
  done
  chmod 1777 "$R/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$R/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
  echo 'hello from diw-test/busybox' >"$R/var/www/index.html"
  tar --numeric-owner -C "$R" -cf "$BB_TAR.tmp" .
  mv "$BB_TAR.tmp" "$BB_TAR"
  rm -rf "$WORK"; trap - EXIT
  timing "busybox rootfs" $t
else
  log "cached: $BB_TAR"
fi

# --- import ------------------------------------------------------------------
t=$SECONDS
if [ "$(image_key "$WORKSPACE_IMAGE")" != "$KEY" ]; then
  old="$(docker image inspect -f '{{.Id}}' "$WORKSPACE_IMAGE" 2>/dev/null || true)"
  docker import \
    --change "LABEL diw.cache-key=$KEY" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'WORKDIR /' \
    --change 'CMD ["sleep", "infinity"]' \
    "$WS_TAR" "$WORKSPACE_IMAGE" >/dev/null
  # The previous build, now untagged (kept while a container still uses it).
  [ -n "$old" ] && { docker rmi "$old" >/dev/null 2>&1 || true; }
  timing "docker import $WORKSPACE_IMAGE" $t
else
  log "up to date: $WORKSPACE_IMAGE (key $KEY)"
fi

t=$SECONDS
if [ "$(image_key "$BUSYBOX_IMAGE")" != "$KEY" ]; then
  old="$(docker image inspect -f '{{.Id}}' "$BUSYBOX_IMAGE" 2>/dev/null || true)"
  docker import \
    --change "LABEL diw.cache-key=$KEY" \
    --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["sh"]' \
    "$BB_TAR" "$BUSYBOX_IMAGE" >/dev/null
  [ -n "$old" ] && { docker rmi "$old" >/dev/null 2>&1 || true; }
  timing "docker import $BUSYBOX_IMAGE" $t
else
  log "up to date: $BUSYBOX_IMAGE (key $KEY)"
fi

# The public workspace image's shape: Docker, but none of the rootless extras; user coder.
t=$SECONDS
if [ "$(image_key "$DOCKER_ONLY_IMAGE")" != "$KEY" ]; then
  printf '%s\n' \
    "FROM $WORKSPACE_IMAGE" \
    "RUN rm -f /usr/bin/rootlesskit /usr/bin/rootlesskit-docker-proxy /usr/bin/slirp4netns \\" \
    "      /usr/bin/newuidmap /usr/bin/newgidmap /usr/local/bin/dockerd-rootless.sh \\" \
    "      /usr/local/bin/dockerd-rootless-setuptool.sh /usr/share/docker.io/contrib/dockerd-rootless*.sh" \
    "LABEL diw.cache-key=$KEY" \
    "USER coder" |
    docker build -q -t "$DOCKER_ONLY_IMAGE" - >/dev/null
  timing "docker build $DOCKER_ONLY_IMAGE" $t
else
  log "up to date: $DOCKER_ONLY_IMAGE (key $KEY)"
fi

# A tar that tests `docker load` inside a nested daemon.
BB_SAVE="$CACHE/busybox-image-$KEY.tar"
if [ ! -s "$BB_SAVE" ]; then
  docker save -o "$BB_SAVE.tmp" "$BUSYBOX_IMAGE"
  mv "$BB_SAVE.tmp" "$BB_SAVE"
fi
ln -sfn "$(basename "$BB_SAVE")" "$CACHE/busybox.tar"
chmod a+r "$BB_SAVE"

# Tarballs of earlier keys (this script or the package list changed).
find "$CACHE" -maxdepth 1 -type f \( -name 'workspace-*.tar' -o -name 'busybox-*.tar' \) \
  ! -name "*-$KEY.tar" -print -delete | sed 's/^/[build.sh] removed old /' >&2

build_unprivileged

docker image ls --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}' | grep '^diw-test/' >&2 || true
DIW_E2E_CACHE="$CACHE" python3 "$IMAGES_PY" record local build.sh
echo "[build.sh] busybox image tar: $CACHE/busybox.tar"
printf '[build.sh] done in %ds\n' "$((SECONDS - T0))"
