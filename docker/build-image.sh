#!/usr/bin/env bash
# make image: build the gust image from docker/Dockerfile with buildah, no Docker engine and no
# container registry needed.
#
#   docker/build-image.sh
#
# 1. docker/base-images.sh makes debian:bookworm and debian:bookworm-slim from Debian packages
#    (debootstrap) when the local storage lacks them;
# 2. `buildah bud` builds docker/Dockerfile unchanged, from the repository root, exactly as
#    `docker build -f docker/Dockerfile -t gust:latest .` would:
#      --isolation chroot   RUN steps in a chroot: no OCI runtime, no user namespaces needed
#                           (crun/runc are refused here by setrlimit in a nested container)
#      --storage-driver vfs plain directories: works on any file system, as root or not
#      --pull=never         the base images are the local ones, never a registry's
#      --format docker      keeps HEALTHCHECK (the OCI image format has no field for it)
#    No --layers: with vfs every cached step is a full copy of the file system; a cold build
#    took 432 s with it and 185 s without, and a rebuild after a source change 270 s with it.
#
# Environment: GUST_IMAGE (gust:latest), BUILDAH_STORAGE_DRIVER (vfs), DEBIAN_RELEASE
# (bookworm), GUST_IMAGE_CACHE (build/image), GUST_IMAGE_FORCE=1 (build even when up to date,
# e.g. for the security updates apt would now install). The image a rebuild replaces is
# removed.
set -euo pipefail
cd "$(dirname "$0")/.."

image=${GUST_IMAGE:-gust:latest}
driver=${BUILDAH_STORAGE_DRIVER:-vfs}
release=${DEBIAN_RELEASE:-bookworm}
export BUILDAH_STORAGE_DRIVER=$driver DEBIAN_RELEASE=$release

bash docker/base-images.sh

cache=${GUST_IMAGE_CACHE:-build/image}
log=$cache/build.log
stamp=$cache/$(echo "$image" | tr '/:' '__').stamp
mkdir -p "$cache"

# Up to date: the image the last build made is still there and nothing it was built from
# changed (the build context's folders the Dockerfile copies, the Dockerfile, the base
# images). A build takes minutes, so this check is what makes a second `make image` instant.
inputs() {
    find docker/Dockerfile Makefile scripts migrations common scheduler tasks tests dags \
        -type f -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum
    local base
    for base in "debian:$release" "debian:$release-slim"; do
        buildah --storage-driver "$driver" images --format '{{.ID}}' "$base"
    done
}
want=$(inputs | sha256sum | cut -d' ' -f1)
have_id=$(buildah --storage-driver "$driver" images --format "{{.ID}}" "$image" 2>/dev/null | head -1 || true)
if [ "${GUST_IMAGE_FORCE:-0}" != 1 ] && [ -n "$have_id" ] && [ -f "$stamp" ] &&
    [ "$(cat "$stamp")" = "$want $have_id" ]; then
    echo "image: $image is up to date ($have_id; GUST_IMAGE_FORCE=1 rebuilds it)" >&2
    exit 0
fi

start=$SECONDS
echo "image: buildah bud -f docker/Dockerfile -t $image . (log: $log)" >&2
if ! buildah --storage-driver "$driver" bud --isolation chroot --pull=never --format docker \
    --build-arg DEBIAN_RELEASE="$release" -f docker/Dockerfile \
    -t "$image" . </dev/null >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "image: buildah bud failed (last lines above, whole log in $log)" >&2
    exit 1
fi
size=$(buildah --storage-driver "$driver" images --format '{{.Size}}' "$image" | head -1)
new_id=$(buildah --storage-driver "$driver" images --format '{{.ID}}' "$image" | head -1)
echo "$want $new_id" >"$stamp"
# The replaced image, now nameless (kept if a container still uses it).
if [ -n "$have_id" ] && [ "$have_id" != "$new_id" ]; then
    buildah --storage-driver "$driver" rmi "$have_id" >/dev/null 2>&1 || true
fi
echo "image: built $image ($size) in $((SECONDS - start)) s" >&2
