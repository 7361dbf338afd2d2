#!/usr/bin/env bash
# Builds the pinned control-plane binaries (kube-apiserver, kube-controller-manager, kubectl,
# etcd, helm) and the test tools (imagebuild, gitopscheck) from the Go wrapper modules in
# testenv/go into a cache outside the repository, keyed by their versions.
# Reuses binaries already present. Go builds run one at a time (2 cores; memory peaks at link).
# Prints the bin directory on its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../versions.env
source "$here/versions.env"

key="k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}"
cache="${MESHES_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshes-operator/testenv}"
bin="$cache/$key/bin"
mkdir -p "$bin"

export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--mod=mod}" GOTOOLCHAIN=local

log() { printf '[testenv build] %s\n' "$*" >&2; }

build() { # name dir package ldflags
  local name="$1" dir="$2" pkg="$3" ld="$4"
  if [[ -x "$bin/$name" ]]; then
    log "$name: cached at $bin/$name"
    return
  fi
  log "$name: building $pkg (this can take 15+ minutes cold for kube-apiserver)"
  local start=$SECONDS
  (cd "$here/go/$dir" && go build -p "${TESTENV_GO_PARALLEL:-2}" -trimpath \
      -tags selinux,notest,grpcnotrace -ldflags "$ld" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  log "$name: built in $((SECONDS - start))s"
}

kube_ld="-s -w"
kmaj="${KUBE_VERSION#v}"; kmaj="${kmaj%%.*}"
kmin="${KUBE_VERSION#v*.}"; kmin="${kmin%%.*}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ld="$kube_ld -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=$kmaj -X $p.gitMinor=$kmin"
  kube_ld="$kube_ld -X $p.gitTreeState=clean -X $p.buildDate=$build_date"
done

build etcd etcd go.etcd.io/etcd/server/v3 "-s -w"
build kube-apiserver kube k8s.io/kubernetes/cmd/kube-apiserver "$kube_ld"
build kubectl kube k8s.io/kubernetes/cmd/kubectl "$kube_ld"
# The namespace and garbage-collector controllers, so namespace deletion and ownerReference
# collection are the real thing in the tiers that need them (issue 17).
build kube-controller-manager kube k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ld"
build helm helm helm.sh/helm/v3/cmd/helm "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"

# Test tools built from our own Go modules, each in its own cache entry keyed by a hash of its
# module files: a change to one rebuilds only it, never the control plane (whose key is the
# versions above). Each is linked into the bin dir under its name.
tool() { # name (the module is go/<name>) what
  local name="$1" src="$here/go/$1" what="$2"
  local key dir
  key="$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-16)"
  dir="$cache/$name-$key"
  if [[ -x "$dir/$name" ]]; then
    log "$name: cached at $dir/$name"
  else
    log "$name: building ($what)"
    local start=$SECONDS
    mkdir -p "$dir"
    (cd "$src" && go build -p "${TESTENV_GO_PARALLEL:-2}" -trimpath -ldflags "-s -w" \
        -o "$dir/$name.tmp" .)
    mv "$dir/$name.tmp" "$dir/$name"
    log "$name: built in $((SECONDS - start))s"
  fi
  ln -sfn "$dir/$name" "$bin/$name"
}
mod_version() { awk -v m="$2" '$1 == m || ($1 == "require" && $2 == m) {print ($1 == m ? $2 : $3)}' "$here/go/$1/go.mod"; }

# The image builder, on go-containerregistry.
tool imagebuild "go-containerregistry $(mod_version imagebuild github.com/google/go-containerregistry)"
# Argo CD health (gopher-lua) and kstatus (cli-utils) evaluation of live objects (docs/gitops.md).
tool gitopscheck "gopher-lua $(mod_version gitopscheck github.com/yuin/gopher-lua), cli-utils $(mod_version gitopscheck sigs.k8s.io/cli-utils)"

"$bin/kube-apiserver" --version >&2
"$bin/etcd" --version | sed -n 1p >&2  # sed reads everything: no SIGPIPE under pipefail
"$bin/helm" version --short >&2
echo "$bin"
