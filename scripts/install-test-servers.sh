#!/usr/bin/env bash
# Installs the Debian packages of the real servers that the integration tests start on loopback:
# Prometheus, Graphite (carbon + graphite-web), ZooKeeper (with a Java runtime), and Chromium for the
# dashboard browser test. Idempotent: does nothing when all are present.
# No system service is started: a temporary policy-rc.d denies it while the packages install.
set -euo pipefail

pkgs=(prometheus graphite-carbon graphite-web zookeeper default-jre-headless chromium curl procps)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test servers: all installed (${pkgs[*]})"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "test servers: missing Debian packages: ${missing[*]}" >&2
  echo "run as root, or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
created_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
trap '[ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "test servers: installed ${missing[*]}"
