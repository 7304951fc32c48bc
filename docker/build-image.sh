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
#      --layers             caches each step: a rebuild with no change takes seconds
#
# Environment: GUST_IMAGE (gust:latest), BUILDAH_STORAGE_DRIVER (vfs), DEBIAN_RELEASE
# (bookworm), GUST_IMAGE_CACHE (build/image). Each rebuild after a source change leaves the
# replaced cache layers behind: `buildah --storage-driver vfs rmi --prune` reclaims them.
set -euo pipefail
cd "$(dirname "$0")/.."

image=${GUST_IMAGE:-gust:latest}
driver=${BUILDAH_STORAGE_DRIVER:-vfs}
release=${DEBIAN_RELEASE:-bookworm}
export BUILDAH_STORAGE_DRIVER=$driver DEBIAN_RELEASE=$release

bash docker/base-images.sh

log=${GUST_IMAGE_CACHE:-build/image}/build.log
mkdir -p "$(dirname "$log")"
start=$SECONDS
echo "image: buildah bud -f docker/Dockerfile -t $image . (log: $log)" >&2
if ! buildah --storage-driver "$driver" bud --isolation chroot --pull=never --format docker \
    --layers --build-arg DEBIAN_RELEASE="$release" -f docker/Dockerfile -t "$image" . \
    </dev/null >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "image: buildah bud failed (last lines above, whole log in $log)" >&2
    exit 1
fi
size=$(buildah --storage-driver "$driver" images --format '{{.Size}}' "$image" | head -1)
echo "image: built $image ($size) in $((SECONDS - start)) s" >&2
