#!/usr/bin/env bash
# Builds the real programs our integration tests run against, from their Go
# modules at pinned versions, into a cache outside the repository, so that only
# the first run on a machine pays for them (a few minutes on 2 cores):
#
#   kube-apiserver, kubectl
#                   k8s.io/kubernetes (its staging modules k8s.io/* required
#                   at the matching v0.x version)
#   kube-loxilb     github.com/loxilb-io/kube-loxilb (the Go controller)
#
# The API server's storage is Debian's etcd-server (3.4), which this
# kube-apiserver accepts (it only notes that etcd 3.4 cannot answer watch
# progress requests, and does without them); scripts/setup.sh installs it.
#
# Each binary lands in $LOXILB_TS_CACHE/bin/<name>-<version> (default
# ~/.cache/loxilb-ts); test/lab/goPeers.ts finds them there. Nothing is built
# when it is already present. `--print` lists name, path, module and version
# of each, and exits.
#
# The Go module proxy does not serve github.com/loxilb-io/loxicmd at any
# version (403 for every tag and pseudo-version), so the real loxicmd is not
# built here; see the README's compatibility section.
set -euo pipefail

K8S_VERSION=v1.34.4
KUBE_LOXILB_VERSION=v0.9.8

cache=${LOXILB_TS_CACHE:-$HOME/.cache/loxilb-ts}
bin=$cache/bin
mkdir -p "$bin"

if [ "${1:-}" = "--print" ]; then
  echo "kube-apiserver $bin/kube-apiserver-$K8S_VERSION k8s.io/kubernetes $K8S_VERSION"
  echo "kubectl $bin/kubectl-$K8S_VERSION k8s.io/kubernetes $K8S_VERSION"
  echo "kube-loxilb $bin/kube-loxilb-$KUBE_LOXILB_VERSION github.com/loxilb-io/kube-loxilb $KUBE_LOXILB_VERSION"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "build-go-peers: the go command is missing (the real kube-apiserver, kubectl and kube-loxilb are built from Go modules)" >&2
  exit 1
fi

export GOFLAGS=-buildvcs=false CGO_ENABLED=0

# go build in a scratch module that requires $module@$version, with the
# extra requirements given as further "module version" arguments.
build() {
  local out=$1 pkg=$2 module=$3 version=$4
  shift 4
  [ -x "$out" ] && return 0
  local work
  work=$(mktemp -d "$cache/build.XXXXXX")
  # A separate shell, so that set -e holds inside (it does not in a subshell on the left of ||).
  if ! bash -euo pipefail -c '
    cd "$1"; out=$2; pkg=$3; module=$4; version=$5; shift 5
    go mod init loxilb-ts.local/peer >/dev/null 2>&1
    for req in "$@"; do go mod edit -require="${req% *}@${req#* }"; done
    go mod edit -require="$module@$version"
    go get "$pkg@$version"
    go build -trimpath -ldflags="-s ${LDFLAGS_X:-}" -o "$out.tmp" "$pkg"
    mv "$out.tmp" "$out"
  ' build "$work" "$out" "$pkg" "$module" "$version" "$@"; then
    rm -rf "$work"
    echo "build-go-peers: building $pkg@$version failed" >&2
    return 1
  fi
  rm -rf "$work"
  echo "build-go-peers: built $out"
}

# k8s.io/kubernetes replaces its staging modules with local directories;
# a module that requires it must name every one at the matching v0.x (but
# the sample-* examples, which nothing imports and the proxy does not serve).
staging_requirements() {
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$gomod" |
    grep -v '^k8s.io/sample-' | sort -u | while read -r m; do echo "$m v0.${K8S_VERSION#v1.}"; done
}

if [ ! -x "$bin/kube-apiserver-$K8S_VERSION" ] || [ ! -x "$bin/kubectl-$K8S_VERSION" ]; then
  requirements=$(staging_requirements)
  mapfile -t staging <<<"$requirements"
  # Their version as a release build reports it (kubectl and clients read /version).
  v=k8s.io/component-base/version
  minor=${K8S_VERSION#v1.}
  export LDFLAGS_X="-X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=${minor%%.*} -X $v.gitTreeState=clean"
  build "$bin/kube-apiserver-$K8S_VERSION" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes "$K8S_VERSION" "${staging[@]}"
  build "$bin/kubectl-$K8S_VERSION" k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes "$K8S_VERSION" "${staging[@]}"
  unset LDFLAGS_X
fi
build "$bin/kube-loxilb-$KUBE_LOXILB_VERSION" github.com/loxilb-io/kube-loxilb/cmd/loxilb-agent github.com/loxilb-io/kube-loxilb "$KUBE_LOXILB_VERSION"
