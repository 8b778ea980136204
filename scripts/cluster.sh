#!/usr/bin/env bash
# The real Kubernetes control plane the tests run against: build it once, start it, stop it.
#
#   scripts/cluster.sh build          build etcd, kube-apiserver, kube-controller-manager, the Kubeflow
#                                     training-operator and the MPI Operator from the Go module proxy,
#                                     into a cache outside the checkout (only the first run pays)
#   scripts/cluster.sh up [--mpi v1|v2beta1]
#                                     start one on 127.0.0.1 (free ports), print its kubeconfig path
#   scripts/cluster.sh down [DIR]     stop the one `up` started (or the one whose folder is DIR)
#   scripts/cluster.sh path           print the folder holding the binaries; exit 1 (and say why
#                                     on stderr) when they are not built from the current sources
#
# Pinned versions are the go.mod files under tests/cluster/go/. The binaries land in
# $DTRAIN_CLUSTER_CACHE (default ~/.cache/dtrain-jupyter)/k8s-<version>/bin, keyed by the
# Kubernetes version and a hash of those Go sources; Go's module and build caches are Go's own
# (GOMODCACHE, GOCACHE), also outside the checkout. Builds run under `nice`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO_SRC="$ROOT/tests/cluster/go"
K8S_VERSION="$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$GO_SRC/kubernetes/go.mod")"
CACHE_ROOT="${DTRAIN_CLUSTER_CACHE:-$HOME/.cache/dtrain-jupyter}"
OUT="$CACHE_ROOT/k8s-$K8S_VERSION/bin"
STAMP="$OUT/.sources-sha256"
BINARIES=(etcd kube-apiserver kube-controller-manager training-operator mpi-operator)

say() { printf '[cluster] %s\n' "$*"; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

sources_hash() {
    (cd "$GO_SRC" && find . -type f | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -d' ' -f1
}

is_built() {
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(sources_hash)" ] || return 1
    local b
    for b in "${BINARIES[@]}"; do [ -x "$OUT/$b" ] || return 1; done
}

go_build() {
    # go_build DIR [go build args...]: build inside one of our small modules, into $OUT.
    local dir="$1"; shift
    (cd "$GO_SRC/$dir" && nice -n 10 go build -trimpath -o "$OUT/" "$@")
}

build() {
    command -v go >/dev/null || die "the Go toolchain is needed to build the control plane (go 1.26 on PATH)"
    if is_built; then
        say "control plane $K8S_VERSION up to date in $OUT"
        return
    fi
    mkdir -p "$OUT"
    rm -f "$STAMP"
    local started=$SECONDS minor="${K8S_VERSION#v1.}"
    minor="${minor%%.*}"
    say "building the control plane $K8S_VERSION into $OUT (cold: about 8 minutes on 2 cores, downloads included)"
    # Without the stamp the servers report v0.0.0-master and version checks get confused.
    local version_flags="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
        -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
        -X k8s.io/component-base/version.gitTreeState=clean \
        -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z \
        -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
    say "etcd"
    go_build etcd -ldflags "-s -w" .
    say "kube-apiserver, kube-controller-manager (the long part)"
    go_build kubernetes -ldflags "-s -w $version_flags" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
    say "training-operator"
    go_build training-operator -ldflags "-s -w" .
    say "mpi-operator"
    go_build mpi-operator -ldflags "-s -w" .
    sources_hash > "$STAMP"
    say "built in $(( SECONDS - started )) s"
}

python_bin() {
    if [ -x "$ROOT/.venv/bin/python" ]; then echo "$ROOT/.venv/bin/python"; else echo python3; fi
}

case "${1:-}" in
    build) build ;;
    path)
        # A path to binaries that are missing, or built from other sources, would only move the
        # failure to whoever uses it: say so here instead.
        is_built || die "the control plane is not built in $OUT (or was built from other Go sources); run scripts/cluster.sh build"
        echo "$OUT"
        ;;
    up)
        shift
        build >&2
        cd "$ROOT" && exec "$(python_bin)" -m tests.cluster up "$@"
        ;;
    down)
        shift
        cd "$ROOT" && exec "$(python_bin)" -m tests.cluster down "$@"
        ;;
    *)
        # The comment block at the top of this file is the usage.
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
        exit 2
        ;;
esac
