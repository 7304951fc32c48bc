#!/usr/bin/env bash
# make deps: install the Debian packages gust needs to build, test and run, when missing.
# Idempotent and quiet when everything is there. Needs root (or sudo) only when installing.
# --bench: also what make bench compares gust with (snakemake, a large Python stack that
# make test does not need: without it the test of the harness reports snakemake as n/a; wrk
# and the FastAPI + confluent-kafka reference collector of bench/collector.sh).
set -euo pipefail

pkgs=(
    build-essential pkg-config clang clang-format
    libpq-dev librdkafka-dev libcurl4-openssl-dev libjansson-dev libyaml-dev libcmocka-dev libssl-dev
    postgresql postgresql-client kcat
    python3 python3-croniter python3-cryptography tzdata graphviz valgrind procps iproute2 util-linux curl
    docker-compose shellcheck python3-yaml python3-jinja2 python3-pendulum python3-aiosmtpd
    debootstrap buildah
    libmicrohttpd-dev libavro-dev python3-avro zlib1g-dev
    pgbouncer
    libpcre2-dev uap-core libgeoip-dev geoip-database libmaxminddb-dev gnuplot-nox
    python3-ua-parser python3-geoip python3-maxminddb libmaxmind-db-writer-perl geoip-bin
)
[ "${1:-}" = --bench ] && pkgs+=(snakemake wrk python3-fastapi python3-uvicorn python3-confluent-kafka)

missing=()
for p in "${pkgs[@]}"; do
    # "install ok installed" is the only state that means the package is usable.
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq </dev/null >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
echo "deps: done" >&2
