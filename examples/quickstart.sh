#!/usr/bin/env bash
# The whole lifecycle against the local sandbox, as a user runs it: install, build, start the sandbox (Pebble +
# Route 53/IAM Roles Anywhere/STS stand-ins), enrol, get AWS credentials, call STS with the AWS CLI, renew, check
# health, stop. Usage: bash examples/quickstart.sh [DIR]   (run as root on Debian 12)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp/iamra-quickstart}

# (the test suite runs this script with IAMRA_QUICKSTART_SKIP_SETUP=1: CI has just installed and built)
if [ -z "${IAMRA_QUICKSTART_SKIP_SETUP:-}" ]; then
  bash test/setup/install.sh
  npm run build --silent
fi
agent() { node dist/bin/iamra-agent.js "$@"; }

trap 'agent sandbox down --dir "$DIR" >/dev/null' EXIT
rm -rf "$DIR"
agent sandbox up --dir "$DIR"
# shellcheck disable=SC1091
. "$DIR/env"            # IAMRA_AGENT_CONFIG, the sandbox endpoints, the Route 53 writer's test key

echo "== policy: what the agent's Route 53 key may do"
agent policy route53 --from-config
echo "== bootstrap: key, ACME DNS-01 through Route 53, verified, live"
agent bootstrap
openssl verify -CAfile "$DIR/pebble-roots.pem" -untrusted "$DIR/state/live/chain.pem" "$DIR/state/live/cert.pem"
echo "== credentials: IAM Roles Anywhere CreateSession, used by the AWS CLI v2 (credential_process)"
/usr/bin/aws --profile iamra sts get-caller-identity --endpoint-url "$IAMRA_SANDBOX_AWS_URL"
echo "== no static key after bootstrap: the Route 53 key leaves the host and its IAM user is deleted"
rm "$DIR/aws/credentials"
node -e 'const i = require(process.argv[1]);
  fetch(`${i.awsUrl}/_sandbox/principals/delete`, { method: "POST", body: JSON.stringify({ accessKeyId: i.dnsUser.accessKeyId }) })
    .then((r) => process.exit(r.ok ? 0 : 1))' "$DIR/sandbox.json"
echo "== renew: forced rotation through the fleet DNS role (dns.route53.credentials: auto), verified before it goes live"
agent renew --force
echo "== status"
agent status
echo "quickstart: ok"
