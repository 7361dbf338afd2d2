#!/usr/bin/env bash
# The one-command demo: a local control plane (real kube-apiserver + etcd), meshes-emulator
# standing in for Meshes, a local webhook receiver, and meshes-operator reconciling
# examples/quickstart — then two events posted with the workspace's publishable key and
# delivered, signed, to the receiver.
#
#   bash examples/demo.sh           # keeps everything running until Ctrl-C (for humans)
#   bash examples/demo.sh --check   # exits 0 once events were delivered end to end (for CI)
#   bash examples/demo.sh --keep    # keep the temp dir (logs) after exit
#
# Needs Go, Rust, python3 and curl. Builds what it needs first: the pinned control-plane
# binaries (cached under ~/.cache/meshes-operator/, 5–15 minutes the first time), then one
# debug `cargo build`. Every process it starts is stopped by pid on exit; the temp dir is removed.
set -Eeuo pipefail

usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

check=0
keep=0
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    --keep) keep=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "demo.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"
here="$repo/examples/demo"
start_time=$SECONDS

for tool in go cargo python3 curl base64 sed; do
  command -v "$tool" >/dev/null || { echo "demo.sh: missing prerequisite: $tool" >&2; exit 1; }
done

# --- output helpers ---------------------------------------------------------------------------

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }

# fail MESSAGE [LOGFILE...]: says what went wrong, shows the end of the relevant logs, exits 1.
fail() {
  local msg="$1"; shift
  printf '\ndemo.sh: FAILED: %s\n' "$msg" >&2
  local log
  for log in "$@"; do
    if [[ -s "$log" ]]; then
      printf -- '--- last 40 lines of %s ---\n' "$log" >&2
      tail -n 40 "$log" >&2
      printf -- '---\n' >&2
    fi
  done
  ((keep)) || echo "(logs are removed on exit; run with --keep to keep them)" >&2
  exit 1
}
# Unexpected failures (set -e) say where; only once, not again from each enclosing subshell.
trap 'rc=$?; [[ $BASH_SUBSHELL == 0 ]] && echo "demo.sh: line $LINENO: command failed (exit $rc): $BASH_COMMAND" >&2' ERR

# --- processes and clean-up -------------------------------------------------------------------

# Plain log files: tracing honours NO_COLOR.
export NO_COLOR=1
# Everything here talks to loopback: never through a proxy from the environment.
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}" NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
work="$(mktemp -d "${TMPDIR:-/tmp}/meshes-demo.XXXXXX")"
logs="$work/logs"
mkdir -p "$logs"
pids=()   # every background process this script started, in start order
names=()

cleanup() {
  local rc=$?
  set +e
  trap - ERR
  local i pid
  # Stop in reverse order (operator before emulator before the control plane), politely first:
  # meshes-testenv stops kube-apiserver and etcd and removes its scratch dir on SIGTERM.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid="${pids[i]}"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      local deadline=$((SECONDS + 20))
      while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then
        echo "demo.sh: ${names[i]} (pid $pid) ignored SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null
      fi
    fi
    wait "$pid" 2>/dev/null
  done
  if ((keep)); then
    echo "demo.sh: kept $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "demo.sh: stopping"; exit 130' INT
trap 'echo "demo.sh: terminated; stopping" >&2; exit 143' TERM

# started NAME: records the pid of the background job just started.
started() { pids+=("$!"); names+=("$1"); }

# alive NAME PID LOG: fails with the log's tail when the process has exited.
alive() {
  kill -0 "$2" 2>/dev/null || fail "$1 exited unexpectedly" "$3"
}

# wait_for WHAT SECONDS PID LOG COMMAND...: polls COMMAND (which should be quiet on stderr)
# until it succeeds; fails on timeout or when the process PID (the one that should make it
# succeed; "-" for none) has exited.
wait_for() {
  local what="$1" secs="$2" pid="$3" log="$4"; shift 4
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null; do
    if [[ "$pid" != - ]] && ! kill -0 "$pid" 2>/dev/null; then
      fail "$what: the process exited first" "$log"
    fi
    if ((SECONDS >= deadline)); then
      fail "$what: not within ${secs}s" "$log"
    fi
    sleep 0.25
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# --- 1. build ---------------------------------------------------------------------------------

# Go and cargo builds run one after the other, never in parallel (2 cores, memory peaks at link).
step "control-plane binaries (kube-apiserver, etcd, kubectl, helm; cached after the first build)"
MESHES_TESTENV_BIN="$(bash testenv/scripts/build.sh | tail -n 1)"
export MESHES_TESTENV_BIN
info "bin dir: $MESHES_TESTENV_BIN"

step "cargo build (meshes-operator, meshes-emulator, meshes-testenv; debug)"
# The executables' paths come from cargo itself, so CARGO_TARGET_DIR and friends are honoured.
cargo build --locked -p meshes-operator -p meshes-emulator -p meshes-testenv --bins \
  --message-format=json-render-diagnostics >"$work/cargo.json"
operator_bin="" emulator_bin="" testenv_bin=""
eval "$(python3 - "$work/cargo.json" <<'EOF'
import json, shlex, sys
want = {"meshes-operator": "operator_bin", "meshes-emulator": "emulator_bin",
        "meshes-testenv": "testenv_bin"}
for line in open(sys.argv[1]):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
        var = want.get(msg["target"]["name"])
        if var:
            print(f"{var}={shlex.quote(msg['executable'])}")
EOF
)"
for var in operator_bin emulator_bin testenv_bin; do
  [[ -x "${!var:-}" ]] || fail "cargo build did not report the $var executable" "$work/cargo.json"
done
info "operator: $operator_bin"

# --- 2. control plane ---------------------------------------------------------------------------

step "control plane: meshes-testenv --crds crds/"
env_file="$work/testenv.env"
# Its scratch dir (etcd data, certs, apiserver logs) goes under our temp dir too.
mkdir -p "$work/cp"
TMPDIR="$work/cp" "$testenv_bin" --crds crds/ --env-file "$env_file" >"$logs/testenv.log" 2>&1 &
started meshes-testenv
testenv_pid=$!
# The env file is written once the apiserver is ready and the CRDs are installed.
wait_for "control plane ready (env file $env_file)" 180 "$testenv_pid" "$logs/testenv.log" \
  grep -qs '^export PATH=' "$env_file"
# shellcheck disable=SC1090
source "$env_file"
[[ "$(command -v kubectl)" == "$MESHES_TESTENV_BIN/kubectl" ]] ||
  fail "kubectl on PATH is $(command -v kubectl), not the pinned one in $MESHES_TESTENV_BIN"
kubectl get --raw /readyz >/dev/null || fail "the apiserver is not ready" "$logs/testenv.log"
info "$(grep -m1 'ready at' "$logs/testenv.log" | sed 's/.*kube-apiserver/kube-apiserver/')"
info "KUBECONFIG=$KUBECONFIG"

# --- 3. emulator ----------------------------------------------------------------------------------

step "meshes-emulator (management API + events listener, fast webhook delivery)"
api_port="$(free_port)"
events_port="$(free_port)"
while [[ "$events_port" == "$api_port" ]]; do events_port="$(free_port)"; done
creds_file="$work/meshes-credentials.yaml"
# stdout holds the generated credentials: it stays in the (0700) temp dir.
"$emulator_bin" \
  --listen "127.0.0.1:$api_port" \
  --events-listen "127.0.0.1:$events_port" \
  --allow-insecure-loopback-webhooks \
  --delivery-max-attempts 5 --delivery-backoff-base 200ms --delivery-backoff-max 2s \
  --delivery-timeout 5s \
  --secret-name meshes-credentials --secret-namespace acme --write-secret "$creds_file" \
  >"$work/emulator.stdout" 2>"$logs/emulator.log" &
started meshes-emulator
emulator_pid=$!
wait_for "emulator started" 30 "$emulator_pid" "$logs/emulator.log" \
  grep -qs '^stringData:' "$creds_file"
emu_base="$(sed -n 's/^# Meshes emulator listening on //p' "$work/emulator.stdout")"
emu_events="$(sed -n 's/^# Events URL: //p' "$work/emulator.stdout")"
[[ -n "$emu_base" && -n "$emu_events" ]] || fail "could not read the emulator's URLs" "$logs/emulator.log"
wait_for "emulator health" 30 "$emulator_pid" "$logs/emulator.log" \
  curl -fs --max-time 2 "$emu_base/_emulator/health"
info "API:    $emu_base/api/v1"
info "events: $emu_events"
info "admin:  $emu_base/_emulator/"

# --- 4. webhook receiver ----------------------------------------------------------------------

step "webhook receiver (examples/demo/receiver.py, verifies X-Meshes-Signature)"
# The signing secret the receiver checks is the one in the example (cross-checked against the
# cluster after applying it).
signing_secret="$(sed -n 's/^  secret: *//p' examples/quickstart/02-webhook.yaml | sed -n 1p)"
[[ -n "$signing_secret" ]] || fail "no signing secret found in examples/quickstart/02-webhook.yaml"
receiver_log="$logs/receiver.log"
DEMO_SIGNING_SECRET="$signing_secret" python3 -u "$here/receiver.py" \
  --port-file "$work/receiver.port" >"$receiver_log" 2>&1 &
started receiver
receiver_pid=$!
wait_for "receiver listening" 15 "$receiver_pid" "$receiver_log" test -s "$work/receiver.port"
receiver_url="http://127.0.0.1:$(cat "$work/receiver.port")/meshes"
info "listening: $receiver_url"

# --- 5. the quickstart ----------------------------------------------------------------------------

step "namespace acme, the emulator's credentials, examples/quickstart (webhook URL -> receiver)"
kubectl create namespace acme
kubectl apply -f "$creds_file"
qs="$work/quickstart"
mkdir -p "$qs"
# 00-credentials.yaml holds placeholders: the emulator's Secret (same name) replaces it.
for f in examples/quickstart/0[1-9]*.yaml; do cp "$f" "$qs/"; done
sed -i "s#https://hooks.acme.example/meshes#$receiver_url#" "$qs/02-webhook.yaml"
grep -q "url: $receiver_url" "$qs/02-webhook.yaml" ||
  fail "could not point the webhook at the receiver (did examples/quickstart/02-webhook.yaml change?)"
kubectl apply -f "$qs/"
cluster_secret="$(kubectl get secret hook-signing -n acme -o jsonpath='{.data.secret}' | base64 -d)"
[[ "$cluster_secret" == "$signing_secret" ]] ||
  fail "the receiver's signing secret differs from the Secret hook-signing"
info "note: the Deployment from 04-app.yaml is stored but never runs: this control plane runs only"
info "      the namespace and garbage-collector controllers, no scheduler or kubelets. The demo"
info "      posts its events with curl instead."

# --- 6. the operator ------------------------------------------------------------------------------

step "meshes-operator run --watch-namespace acme"
operator_log="$logs/operator.log"
# Metrics and probes on free loopback ports (the log says which): never a clash with 8080/8081.
"$operator_bin" run --api-url "$emu_base" --events-url "$emu_events" --watch-namespace acme \
  --instance-id demo --metrics-bind-address 127.0.0.1:0 --health-probe-bind-address 127.0.0.1:0 \
  >"$operator_log" 2>&1 &
started meshes-operator
operator_pid=$!
info "log: $operator_log"

step "waiting for the workspace, connection and rules to be Ready"
if ! kubectl wait --for=condition=Ready meshesworkspaces,meshesconnections,meshesrules --all \
  -n acme --timeout=180s; then
  kubectl get meshes -n acme -o wide >&2 || true
  fail "the quickstart objects did not become Ready" "$operator_log" "$logs/emulator.log"
fi
alive meshes-operator "$operator_pid" "$operator_log"
echo
kubectl get meshes -n acme

# --- 7. events end to end -------------------------------------------------------------------------

step "events: publishable key from Secret acme-prod-publishable-key -> emulator -> receiver"
output_secret_exists() { kubectl get secret acme-prod-publishable-key -n acme >/dev/null 2>&1; }
wait_for "Secret acme-prod-publishable-key" 60 "$operator_pid" "$operator_log" output_secret_exists
secret_value() {
  kubectl get secret acme-prod-publishable-key -n acme -o "jsonpath={.data.$1}" | base64 -d
}
MESHES_PUBLISHABLE_KEY="$(secret_value MESHES_PUBLISHABLE_KEY)"
MESHES_EVENTS_URL="$(secret_value MESHES_EVENTS_URL)"
[[ -n "$MESHES_PUBLISHABLE_KEY" && -n "$MESHES_EVENTS_URL" ]] ||
  fail "Secret acme-prod-publishable-key lacks MESHES_PUBLISHABLE_KEY or MESHES_EVENTS_URL" "$operator_log"
info "MESHES_EVENTS_URL=$MESHES_EVENTS_URL"
info "MESHES_PUBLISHABLE_KEY=${MESHES_PUBLISHABLE_KEY:0:18}… (publishable; meant for apps)"

post_event() { # EVENT PAYLOAD_JSON
  local code
  code="$(curl -sS --max-time 10 -o "$work/post.json" -w '%{http_code}' \
    -X POST "$MESHES_EVENTS_URL/events" \
    -H "X-Meshes-Publishable-Key: $MESHES_PUBLISHABLE_KEY" \
    -H 'Content-Type: application/json' \
    -d "{\"event\":\"$1\",\"payload\":$2}")" || fail "POST $1 failed" "$logs/emulator.log"
  [[ "$code" == 201 ]] || fail "POST $1 answered HTTP $code: $(cat "$work/post.json")" "$logs/emulator.log"
  info "POST $MESHES_EVENTS_URL/events $1 -> 201 $(python3 -c \
    'import json,sys; print("id=" + json.load(open(sys.argv[1]))["event"]["id"])' "$work/post.json")"
}
post_event user.signup '{"email":"ada@example.com","plan":"pro"}'
post_event payment.failed '{"email":"ada@example.com","amount_cents":4200}'

# received EVENT: the receiver logged EVENT with a valid signature; any bad signature fails at once.
received() {
  if grep -qs 'signature=INVALID' "$receiver_log"; then
    fail "the receiver got a request with a bad signature" "$receiver_log" "$logs/emulator.log"
  fi
  grep -qs "event=$1 .*signature=valid" "$receiver_log"
}
for ev in user.signup payment.failed; do
  wait_for "receiver got a validly signed $ev" 60 "$receiver_pid" "$receiver_log" received "$ev"
done
echo
sed 's/^/    receiver| /' "$receiver_log"
deliveries="$(curl -fsS --max-time 5 "$emu_base/_emulator/deliveries" | python3 -c \
  'import json,sys; d = json.load(sys.stdin); print(d["delivered"], "of", d["total"], "delivery attempts succeeded")')"
info "emulator: $deliveries"

# --- 8. summary -------------------------------------------------------------------------------------

step "demo is up ($((SECONDS - start_time))s)"
cat <<EOF
    control plane   kube-apiserver + etcd via meshes-testenv (pid $testenv_pid)
                    log: $logs/testenv.log
    emulator        $emu_base (pid $emulator_pid), events listener $emu_events
                    log: $logs/emulator.log
    receiver        $receiver_url (pid $receiver_pid)
                    log: $receiver_log
    operator        meshes-operator run --watch-namespace acme (pid $operator_pid)
                    log: $operator_log

  poke at it (another shell):
    export KUBECONFIG=$KUBECONFIG PATH=$MESHES_TESTENV_BIN:\$PATH
    kubectl get meshes -n acme
    kubectl describe meshesconnection signup-hook -n acme
    kubectl get secret acme-prod-publishable-key -n acme -o yaml
    curl -s $emu_base/_emulator/state | python3 -m json.tool
    curl -s $emu_base/_emulator/deliveries | python3 -m json.tool
    curl -s -X POST $MESHES_EVENTS_URL/events -H 'X-Meshes-Publishable-Key: $MESHES_PUBLISHABLE_KEY' \\
      -H 'Content-Type: application/json' -d '{"event":"user.signup","payload":{"email":"bob@example.com"}}'
    tail -f $receiver_log
EOF

if ((check)); then
  step "check passed: quickstart Ready, 2 events delivered with valid signatures"
  ((keep)) || info "(stopping everything; the logs above are removed: --keep keeps them)"
  exit 0
fi

echo
echo "Running. Press Ctrl-C to stop everything (the temp dir $work is removed)."
while true; do
  alive meshes-testenv "$testenv_pid" "$logs/testenv.log"
  alive meshes-emulator "$emulator_pid" "$logs/emulator.log"
  alive receiver "$receiver_pid" "$receiver_log"
  alive meshes-operator "$operator_pid" "$operator_log"
  sleep 2
done
