#!/usr/bin/env bash
# Prepares a Debian bookworm machine (as root) to build and test loxilb-ts:
# system daemons used by the agent and the test labs, then node_modules.
# Idempotent: a second run does nothing and says so.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

did=()

# What the agent, the native build, the test labs and the benchmarks run,
# each as "command-or-path package". A command already on PATH is enough.
# (kubectl comes with the API server from scripts/build-go-peers.sh; etcd is
# Debian's, which that kube-apiserver accepts.)
requirements=(
  "gobgpd gobgpd" "gobgp gobgpd"
  "bird bird2" "birdc bird2"
  "/usr/lib/frr/bgpd frr" "/usr/lib/frr/bfdd frr" "vtysh frr"
  "keepalived keepalived"
  "ip iproute2" "curl curl" "ping iputils-ping" "arping iputils-arping" "ps procps"
  "g++ g++" "make make" "python3 python3"
  "clang clang" "/usr/include/bpf/libbpf.h libbpf-dev"
  "iptables iptables" "nft nftables"
  "wrk wrk" "nginx nginx-light" "haproxy haproxy"
  "tshark tshark" "dumpcap wireshark-common"
  "etcd etcd-server"
  "prometheus prometheus"
)
packages=()
for req in "${requirements[@]}"; do
  check=${req% *}
  pkg=${req#* }
  if [[ $check == /* ]]; then
    [ -e "$check" ] && continue
  else
    command -v "$check" >/dev/null 2>&1 && continue
  fi
  [[ " ${packages[*]} " == *" $pkg "* ]] || packages+=("$pkg")
done

if [ "${#packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing ${packages[*]}; installing them needs root" >&2
    exit 1
  fi
  # The bird2, frr, keepalived, nginx and haproxy packages start system-wide
  # daemons from their postinst (bird2's stock config even exports routes
  # into the root namespace's kernel table). Tests and benchmarks run their
  # own inside namespaces, so forbid service starts during the install
  # (policy-rc.d is honoured by invoke-rc.d and deb-systemd-invoke).
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
    trap 'if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; fi' EXIT
  fi
  apt_log=$(mktemp)
  if ! { apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
           -o Dpkg::Use-Pty=0 "${packages[@]}"; } >"$apt_log" 2>&1; then
    cat "$apt_log" >&2
    rm -f "$apt_log"
    exit 1
  fi
  rm -f "$apt_log"
  if [ "$own_policy" -eq 1 ]; then
    rm -f "$policy"
    own_policy=0
  fi
  did+=("installed ${packages[*]}")
fi

# Never rely on (or compete with) a packaged, system-wide BIRD, FRR or
# keepalived (a system keepalived would answer VRRP and hold addresses in the
# root namespace; FRR's zebra would own the root namespace's routes): if
# systemd is running, keep their services stopped and disabled. Labs run FRR's
# daemons themselves, inside namespaces, with -N <instance>.
# Without systemd nothing starts them.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  for unit in bird.service frr.service keepalived.service nginx.service haproxy.service etcd.service prometheus.service prometheus-node-exporter.service; do
    if systemctl is-enabled --quiet "$unit" 2>/dev/null ||
       systemctl is-active --quiet "$unit" 2>/dev/null; then
      systemctl disable --now --quiet "$unit"
      did+=("disabled $unit")
    fi
  done
fi

if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] ||
   [ package-lock.json -nt node_modules/.package-lock.json ] ||
   [ ! -f native/build/Release/loxilb_native.node ] || [ ! -f native/build/lb.bpf.o ]; then
  npm_log=$(mktemp)
  if ! npm ci --no-audit --no-fund >"$npm_log" 2>&1; then
    cat "$npm_log" >&2
    rm -f "$npm_log"
    exit 1
  fi
  rm -f "$npm_log"
  did+=("ran npm ci")
elif [ -n "$(find native/src native/bpf native/binding.gyp -newer native/build/Release/loxilb_native.node -print -quit)" ]; then
  # Sources changed since the addon was built (a pull, an edit): rebuild it only.
  build_log=$(mktemp)
  if ! npm run build:native >"$build_log" 2>&1; then
    cat "$build_log" >&2
    rm -f "$build_log"
    exit 1
  fi
  rm -f "$build_log"
  did+=("rebuilt the native addon")
fi

# The compiled entry points (dist/, which bin/* prefer when fresh); npm ci
# builds them, this catches sources changed since.
if [ ! -f dist/cli/loxilb.js ] || [ -n "$(find src -newer dist/cli/loxilb.js -print -quit)" ]; then
  build_log=$(mktemp)
  if ! npm run build >"$build_log" 2>&1; then
    cat "$build_log" >&2
    rm -f "$build_log"
    exit 1
  fi
  rm -f "$build_log"
  did+=("compiled src/ into dist/")
fi

# The real programs the integration tests run against (kube-apiserver and
# kubectl, the Go kube-loxilb), built from their Go modules at pinned versions
# into ~/.cache/loxilb-ts (LOXILB_TS_CACHE): minutes on a new machine, then
# nothing. Needs the go command (Go 1.24 or newer) and the Go module proxy.
missing_peers=$(bash scripts/build-go-peers.sh --print | while read -r _ bin _; do [ -x "$bin" ] || echo "$bin"; done)
if [ -n "$missing_peers" ]; then
  echo "setup: building the Go test peers (kube-apiserver, kubectl, kube-loxilb) into ${LOXILB_TS_CACHE:-$HOME/.cache/loxilb-ts}; only the first run pays for this" >&2
  go_log=$(mktemp)
  if ! bash scripts/build-go-peers.sh >"$go_log" 2>&1; then
    tail -40 "$go_log" >&2
    rm -f "$go_log"
    exit 1
  fi
  rm -f "$go_log"
  did+=("built the Go test peers")
fi

if [ "${#did[@]}" -eq 0 ]; then
  echo "setup: system packages and node_modules already up to date"
else
  msg=$(printf '%s; ' "${did[@]}")
  echo "setup: ${msg%; }"
fi
