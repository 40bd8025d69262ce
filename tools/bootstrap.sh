#!/usr/bin/env bash
# Install what the project needs on a fresh Debian machine (root): uv, PostgreSQL, Java + Maven, Chromium,
# and the Python workspace. Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  # A policy-rc.d that forbids starting services: the package's default cluster must not take port 5432.
  printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  as_root rm -f /usr/sbin/policy-rc.d
}

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  say "Installing PostgreSQL from Debian's packages"
  apt_install postgresql
fi
if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  say "Installing Java 17 and Maven from Debian's packages"
  apt_install openjdk-17-jre-headless maven
fi
if ! command -v chromium >/dev/null; then
  say "Installing Chromium from Debian's packages (the browser journey test drives it)"
  apt_install chromium
fi
if ! command -v kubectl >/dev/null && ! command -v kustomize >/dev/null && [ ! -x .tools/bin/kustomize ]; then
  # tests/test_k8s_manifests.py renders deploy/k8s; kustomize is built from the Go module proxy (~1 min)
  say "Building kustomize (sigs.k8s.io/kustomize) into .tools/bin"
  GOBIN="$PWD/.tools/bin" GOFLAGS=-mod=mod go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1
fi
if ! command -v uv >/dev/null; then
  say "Installing uv from PyPI"
  python3 -m pip install --quiet "uv==0.13.9"
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  say "Installing Node.js and npm from Debian's packages (the AsyncAPI parser runs on it)"
  apt_install nodejs npm
fi
parser=tools/asyncapi
installed=$parser/node_modules/.package-lock.json   # npm ci writes it: reinstall when the lock file is newer
if [ ! -f $installed ] || [ $parser/package-lock.json -nt $installed ]; then
  # tests/test_asyncapi.py validates docs/asyncapi with the official parser, pinned by its package-lock.json
  say "Installing the AsyncAPI parser from the npm registry (npm ci in $parser)"
  (cd $parser && SCARF_ANALYTICS=false npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
e2e=tests/e2e
if [ ! -f $e2e/node_modules/.package-lock.json ] || [ $e2e/package-lock.json -nt $e2e/node_modules/.package-lock.json ]
then
  # tests/e2e/test_browser_journey.py runs axe-core (pinned by its package-lock.json) on every merchant page
  say "Installing axe-core from the npm registry (npm ci in $e2e)"
  (cd $e2e && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
say "Installing the Python workspace (uv sync)"
uv sync --frozen --python python3 --quiet
