#!/usr/bin/env bash
# Install the Debian packages the project needs, only those that are missing.
#   scripts/setup-system.sh build   — what building mysqlclient needs (every command)
#   scripts/setup-system.sh test    — plus what the tests start: MariaDB, Redis, nginx, Chromium,
#                                    docker-compose (validates the compose file; no engine), and
#                                    faketime (workers whose clock is off: tests/jobs/worker/test_clock_skew.py)
set -euo pipefail

packages=(libmariadb-dev pkg-config build-essential)
if [ "${1:-build}" = "test" ]; then
    packages+=(mariadb-server redis-server nginx chromium docker-compose faketime)
fi

missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
else
    sudo=
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# policy-rc.d keeps the packaged services from starting: the tests start their own servers.
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
