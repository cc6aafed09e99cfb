#!/usr/bin/env bash
# Install everything the test suite needs (Debian packages when missing, the project
# with its test extra) and run the whole suite.  The README's test command; .ci/run
# calls it and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

# etcd (real Store backend), dig (DNS client), nsd + dnsperf (DNS benchmark peer),
# openssl (throwaway certificates for token-protected simulated members),
# prometheus (promtool, to check the alert rules)
need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
command -v dig >/dev/null || need+=(dnsutils)
command -v nsd >/dev/null || need+=(nsd)
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v openssl >/dev/null || need+=(openssl)  # fedns sim --token serves HTTPS
command -v promtool >/dev/null || need+=(prometheus)  # promtool checks the alert rules
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian starts nsd as a service on install; the tests run their own instances.
for service in nsd prometheus; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
  fi
done

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
# Helm 3 and Helm 4 for tests/sim (cached in ~/.cache/fedns-tools)
bash tests/support/fetch_helm.sh
exec python3 -m pytest -q "$@"
