#!/usr/bin/env bash
# System packages the project needs beyond pip: Graphviz (--dag svg/png, the report's DAG) and
# Chromium (the report is checked in a real headless browser). The Slurm test cluster installs
# its own packages (tests/slurm/cluster.sh). Idempotent; without root or apt it says so and
# exits 0, and the tests that need a missing tool are skipped with the reason.
set -u
need=()
command -v dot >/dev/null 2>&1 || need+=(graphviz)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: cannot install ${need[*]} (need root and apt-get); dependent tests will skip"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-system-deps: installing ${need[*]}"
apt-get update -qq >/dev/null 2>&1 || true
if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/tmp/cfcompile-apt.log 2>&1; then
  echo "install-system-deps: apt-get install ${need[*]} failed (see /tmp/cfcompile-apt.log); dependent tests will skip"
fi
exit 0
