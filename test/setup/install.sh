#!/usr/bin/env bash
# Installs everything the tests and the quickstart need on a fresh Debian 12 machine (as root): Debian packages,
# pinned test peers (Pebble and the AWS credential helper from the Go module proxy, lego v5 built from test/peers/lego5 with its
# committed go.sum, the awslabs Roles Anywhere Python client from PyPI), and the npm dependencies from the lockfile. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/../.."

PEERS=${IAMRA_PEERS_DIR:-/opt/iamra-agent-peers}
PEBBLE_VERSION=v2.10.1
AWS_HELPER_VERSION=v1.4.0   # v1.8.0 and @latest are refused by the Go module proxy here
PY_ORACLE="iam-rolesanywhere-session==3.0.0"

APT_PACKAGES=(
  awscli            # AWS CLI v2 (/usr/bin/aws): a real client of credential_process, IMDS, the credentials file, STS
  bind9-dnsutils    # dig: checks the sandbox's authoritative DNS like an operator would
  oathtool          # Debian's oathtool: the independent RFC 6238 TOTP oracle for the envsense session names
  openssl           # chain and signature checks in tests
  strace            # the lego v5 interop test checks that lego connects to loopback only (never the host's resolver)
  python3-venv      # an isolated venv for the Python Roles Anywhere client used as an oracle
  systemd           # systemd-analyze verify / security for the units
  softhsm2          # SoftHSM2 2.6: a PKCS#11 token for hardware-key tests (key.source: pkcs11) and sandbox up --key pkcs11
  opensc            # pkcs11-tool: inspects the token's objects (CKA_EXTRACTABLE) like an operator would
  swtpm swtpm-tools # a software TPM 2.0 for key.source: tpm tests and sandbox up --key tpm
  tpm2-tools        # drives the TPM (create, persist, sign); the agent never hand-writes TPM commands
  libtss2-tcti-swtpm0 libtss2-tcti-device0  # TCTIs for swtpm (tests) and /dev/tpmrm0 (hosts)
  wrk               # HTTP load generator for npm run bench -- imds (IMDS routes against a bare node:http server)
  ca-certificates curl
)

missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "install: apt packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

command -v go >/dev/null || { echo "install: Go is required to build the pinned Pebble (go install); install Go >= 1.23" >&2; exit 1; }
mkdir -p "$PEERS/bin"
stamp="$PEERS/bin/.pebble-$PEBBLE_VERSION"
if [ ! -e "$stamp" ]; then
  echo "install: pebble $PEBBLE_VERSION"
  GOBIN="$PEERS/bin" GOFLAGS=-mod=mod go install "github.com/letsencrypt/pebble/v2/cmd/pebble@$PEBBLE_VERSION"
  GOBIN="$PEERS/bin" GOFLAGS=-mod=mod go install "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$PEBBLE_VERSION"
  touch "$stamp"
fi

# the AWS IAM Roles Anywhere credential helper (its help calls it aws_signing_helper): oracle and benchmark peer
stamp="$PEERS/bin/.aws-helper-$AWS_HELPER_VERSION"
if [ ! -e "$stamp" ]; then
  echo "install: rolesanywhere-credential-helper $AWS_HELPER_VERSION"
  GOBIN="$PEERS/bin" GOFLAGS=-mod=mod go install "github.com/aws/rolesanywhere-credential-helper@$AWS_HELPER_VERSION"
  touch "$stamp"
fi

# lego v5 (its CLI cannot be built here: the module proxy refuses most of its DNS providers' dependencies), as a
# small program on lego's library and route53 provider, pinned by test/peers/lego5/go.mod and go.sum
lego5_stamp="$PEERS/bin/.lego5-$(cat test/peers/lego5/go.mod test/peers/lego5/go.sum test/peers/lego5/main.go | sha256sum | cut -c1-16)"
if [ ! -e "$lego5_stamp" ] || [ ! -x "$PEERS/bin/lego5" ]; then
  echo "install: lego5 (github.com/go-acme/lego/v5 $(awk '$1 == "require" && $2 ~ /lego/ {print $3}' test/peers/lego5/go.mod))"
  (cd test/peers/lego5 && GOFLAGS=-mod=readonly go build -trimpath -o "$PEERS/bin/lego5" .)
  rm -f "$PEERS"/bin/.lego5-*
  touch "$lego5_stamp"
fi

if [ ! -x "$PEERS/venv/bin/python" ] || ! "$PEERS/venv/bin/python" -c 'import iam_rolesanywhere_session' 2>/dev/null; then
  echo "install: python oracle $PY_ORACLE"
  /usr/bin/python3 -m venv "$PEERS/venv"
  "$PEERS/venv/bin/pip" install -q "$PY_ORACLE"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "install: npm ci"
  npm ci --no-audit --no-fund
fi
echo "install: ok (peers in $PEERS)"
