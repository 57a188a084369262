#!/usr/bin/env bash
# Installs what the tests and the local provider need from Debian's packages, when it is missing and we are root.
set -euo pipefail
missing=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
# runc runs each local instance as an OCI container (as root); without it instances fall back to process groups.
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || missing+=(runc)
# OCI images: skopeo pulls them, umoci unpacks them (the provider needs both to deploy an image by reference).
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v umoci >/dev/null 2>&1 || missing+=(umoci)
# Python functions (the python3-http template) run on Debian's python3; pip installs their requirements.txt.
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
# gcc builds the watchdog's spawn helper (scripts/build-native.sh); without it fork modes use Node's slower spawn.
command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
if [ "${HYPERFAAS_NEED_KUBECTL:-1}" = 1 ]; then command -v kubectl >/dev/null 2>&1 || missing+=(kubectl); fi
# The observability tests scrape the provider with a real Prometheus and drive the dashboard in headless Chromium.
if [ "${HYPERFAAS_NEED_TEST_TOOLS:-1}" = 1 ]; then
  command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  # The OCI image tests run a real registry (htpasswd for its auth) and build images from a static busybox.
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
  dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "missing: ${missing[*]}. Install with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
