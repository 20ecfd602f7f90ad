#!/usr/bin/env bash
# Installing iamra-agent on a host for real (Debian 12, as root). Read it before running: it is the documented
# sequence of steps, not a magic installer. Prerequisites: Node 20, the Route 53 policy from
# `iamra-agent policy route53` attached to an IAM user or role, and its credentials.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)

# 1. the agent, built from this checkout, on PATH
install -d /opt/iamra-agent
cp -a "$SRC/package.json" "$SRC/package-lock.json" "$SRC/units" "$SRC/config" /opt/iamra-agent/
(cd "$SRC" && npm ci && npm run build) && cp -a "$SRC/dist" /opt/iamra-agent/
(cd /opt/iamra-agent && npm ci --omit=dev)
ln -sf /opt/iamra-agent/dist/bin/iamra-agent.js /usr/local/bin/iamra-agent

# 2. the system user and the config directory
install -m 0644 /opt/iamra-agent/units/iamra-agent.sysusers.conf /usr/lib/sysusers.d/iamra-agent.conf
install -m 0644 /opt/iamra-agent/units/iamra-agent.tmpfiles.conf /usr/lib/tmpfiles.d/iamra-agent.conf
systemd-sysusers && systemd-tmpfiles --create
[ -f /etc/iamra-agent/agent.yaml ] || install -m 0640 -g iamra-agent /opt/iamra-agent/config/agent.example.yaml /etc/iamra-agent/agent.yaml
echo "edit /etc/iamra-agent/agent.yaml, then: iamra-agent config check"

# 3. the Route 53 writer's credentials, handed to the units by systemd (LoadCredential=), readable by root only
if [ ! -f /etc/iamra-agent/route53-credentials ]; then
  umask 077
  printf '[default]\naws_access_key_id = REPLACE\naws_secret_access_key = REPLACE\n' > /etc/iamra-agent/route53-credentials
  echo "put the Route 53 key into /etc/iamra-agent/route53-credentials (0600)"
fi

# 4. units: first-boot enrolment, the twice-daily renewal timer, the credential endpoint, the health check
iamra-agent install-units --bin /usr/local/bin/iamra-agent
systemctl daemon-reload
systemctl enable iamra-agent-bootstrap.service iamra-agent-renew.timer iamra-agent-serve.service iamra-agent-status.timer
echo "start now with: systemctl start iamra-agent-bootstrap.service iamra-agent-renew.timer iamra-agent-serve.service iamra-agent-status.timer"
