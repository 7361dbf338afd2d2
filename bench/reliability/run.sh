#!/usr/bin/env bash
# The reliability suite at full size (issue 17): the same tests as CI's
# `cargo test --test integration reliability::`, with 200 tenants (the churn: 30, CHURN_TENANTS)
# and 500 churn edits, one scenario at a time (so durations are not shared). Writes the
# RELIABILITY lines and the seconds of each scenario to bench/reliability/results-<date>.txt and
# prints them.
#
#   bash bench/reliability/run.sh                 # 200 tenants, 500 edits
#   TENANTS=50 EDITS=200 bash bench/reliability/run.sh
#   SCENARIOS="chaos restart" bash bench/reliability/run.sh   # a subset
#
# Needs the pinned control plane (testenv/scripts/build.sh); MESHES_TESTENV_BIN as for CI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export MESHES_RELIABILITY_TENANTS="${TENANTS:-200}"
export MESHES_RELIABILITY_EDITS="${EDITS:-500}"
export RUST_BACKTRACE=0
out="bench/reliability/results-$(date -u +%Y%m%dT%H%M%SZ).txt"
read -r -a scenarios <<<"${SCENARIOS:-deletion chaos restart churn}"

cargo test --locked -p meshes-operator --test integration --no-run >/dev/null 2>&1
{
  echo "# tenants=$MESHES_RELIABILITY_TENANTS (churn ${CHURN_TENANTS:-30}) edits=$MESHES_RELIABILITY_EDITS $(nproc) cores, $(uname -r)"
  for s in "${scenarios[@]}"; do
    start=$SECONDS
    log="$(mktemp)"
    # The churn runs over 30 tenants at every size (the issue's figure); the others at TENANTS.
    if [[ $s == churn ]]; then
      export MESHES_RELIABILITY_TENANTS="${CHURN_TENANTS:-30}"
    else
      export MESHES_RELIABILITY_TENANTS="${TENANTS:-200}"
    fi
    if cargo test --locked -q -p meshes-operator --test integration -- "reliability::$s::" \
        --nocapture --test-threads 1 >"$log" 2>&1; then
      result=ok
    else
      result=FAILED
    fi
    grep '^RELIABILITY ' "$log" || echo "RELIABILITY scenario=$s (no report line)"
    echo "# $s: $result in $((SECONDS - start)) s"
    [[ $result == ok ]] || tail -40 "$log" | sed 's/^/#   /'
    rm -f "$log"
  done
} | tee "$out"
echo "written to $out"
