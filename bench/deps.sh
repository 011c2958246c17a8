#!/bin/sh
# Install the Debian packages `make bench` needs beyond the project's own (.ci/deps), only those
# missing. Safe to run repeatedly; needs root or sudo only when something is missing.
set -eu
missing=""
for p in $(cat "$(dirname "$0")/packages"); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "bench: installing missing Debian packages:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
