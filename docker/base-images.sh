#!/usr/bin/env bash
# Build the local base images debian:bookworm and debian:bookworm-slim from Debian packages,
# so docker/Dockerfile builds with buildah on a machine with no Docker engine and no access
# to a container registry (only the Debian mirror).
#
#   docker/base-images.sh [--force]
#
# A root filesystem is made with `debootstrap --variant=minbase` (what the official
# debian images are made from), given the same apt and dpkg settings as those images, and
# imported with `buildah from scratch` + `buildah add` + `buildah commit`. The slim variant
# also drops documentation, man pages and translations, as debian:*-slim does.
#
# Cached: the root filesystem tarball is kept under $GUST_IMAGE_CACHE (build/image), so a
# second run (or a run after `buildah rmi`) needs no download; images already in the local
# storage are left alone (--force rebuilds both from the tarball).
#
# Environment: DEBIAN_RELEASE (bookworm), DEBIAN_MIRROR (http://deb.debian.org/debian),
# GUST_IMAGE_CACHE (build/image), BUILDAH_STORAGE_DRIVER (vfs). Needs root (debootstrap),
# debootstrap and buildah (make deps installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

release=${DEBIAN_RELEASE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${GUST_IMAGE_CACHE:-build/image}
driver=${BUILDAH_STORAGE_DRIVER:-vfs}
force=0
[ "${1:-}" = --force ] && force=1
bah=(buildah --storage-driver "$driver")

log() { echo "base-images: $*" >&2; }
die() {
    log "$*"
    exit 1
}

for tool in debootstrap buildah; do
    command -v "$tool" >/dev/null || die "$tool is not installed (make deps installs it)"
done
[ "$(id -u)" -eq 0 ] || die "debootstrap needs root (run as root or with sudo)"

have_image() { "${bah[@]}" inspect --type image "$1" >/dev/null 2>&1; }

if [ "$force" = 0 ] && have_image "debian:$release" && have_image "debian:$release-slim"; then
    log "debian:$release and debian:$release-slim are present"
    exit 0
fi

mkdir -p "$cache"
tarball=$cache/debian-$release-minbase.tar
slim_tarball=$cache/debian-$release-slim.tar

# The settings the official images carry (debuerreotype): apt sources with updates and
# security in deb822 form, no cached .debs or package lists left behind by apt, no
# translations, gzipped lists, no Suggests pulled in by autoremove.
configure_rootfs() {
    local root=$1
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $release $release-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $release-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    printf '%s\n' 'Acquire::GzipIndexes "true";' 'Acquire::CompressionTypes::Order:: "gz";' \
        >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' \
        >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
    # No daemon may start while packages are installed in a build.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
}

# What a build leaves that an image must not carry.
clean_rootfs() {
    local root=$1
    # Each container gets its own identity, hostname and resolver from the runtime.
    : >"$root/etc/machine-id"
    rm -f "$root/var/lib/dbus/machine-id" "$root/etc/hostname" "$root/etc/resolv.conf"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    rm -rf "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/* "$root"/var/tmp/*
}

# debian:*-slim: what dpkg will not install from now on, and what is removed now.
slim_rootfs() {
    local root=$1
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/man/* "$root"/usr/share/groff/* "$root"/usr/share/info/* \
        "$root"/usr/share/lintian/* "$root"/usr/share/linda/*
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias \
        -exec rm -rf {} +
}

make_tarballs() {
    local work root
    work=$(mktemp -d "$PWD/$cache/rootfs.XXXXXX")
    # shellcheck disable=SC2064 # expand now: the folder to remove is this one
    trap "rm -rf '$work'" EXIT
    root=$work/rootfs
    log "debootstrap --variant=minbase $release from $mirror (a few minutes, once)"
    if ! debootstrap --variant=minbase "$release" "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
        tail -20 "$work/debootstrap.log" >&2
        die "debootstrap failed (log above; is $mirror reachable?)"
    fi
    configure_rootfs "$root"
    # The point release plus the security and stable updates published since, as the
    # official images are rebuilt with them.
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    if ! chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -y -qq dist-upgrade' \
        </dev/null >"$work/upgrade.log" 2>&1; then
        tail -20 "$work/upgrade.log" >&2
        die "apt-get dist-upgrade in the new root filesystem failed (log above)"
    fi
    clean_rootfs "$root"
    tar --numeric-owner --xattrs -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    slim_rootfs "$root"
    tar --numeric-owner --xattrs -C "$root" -cf "$slim_tarball.tmp" . && mv "$slim_tarball.tmp" "$slim_tarball"
    rm -rf "$work"
    trap - EXIT
}

import_image() { # tarball name
    local ctr
    ctr=$("${bah[@]}" from --pull=never scratch)
    "${bah[@]}" add "$ctr" "$1" / >/dev/null
    "${bah[@]}" config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --os linux --arch "$(dpkg --print-architecture)" --label org.opencontainers.image.source="debootstrap $release" "$ctr"
    "${bah[@]}" commit --quiet --rm "$ctr" "$2" >/dev/null
    log "imported $2 ($(du -h "$1" | cut -f1) tarball)"
}

if [ "$force" = 1 ] || [ ! -s "$tarball" ] || [ ! -s "$slim_tarball" ]; then
    make_tarballs
else
    log "using the cached root filesystems in $cache"
fi
import_image "$tarball" "debian:$release"
import_image "$slim_tarball" "debian:$release-slim"
