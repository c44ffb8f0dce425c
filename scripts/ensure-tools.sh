#!/usr/bin/env bash
# Installs what the test suite needs besides Go: Debian's mosquitto clients
# (the stock MQTT client the end-to-end tests publish with), PostgreSQL
# (the production back end), Chromium with a Hangul font (the consoles'
# browser tests), PyYAML (the compose file's test) and HAProxy (the cluster's
# load balancer: dolbom-sim cluster and its tests). As root it installs with apt-get; otherwise it
# says exactly what to install and fails.
set -euo pipefail

need=()
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# The consoles' browser tests drive Debian's Chromium; a Hangul font makes
# their screenshots readable (the pages use system fonts only).
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list :lang=ko 2>/dev/null | grep -q . || need+=(fonts-nanum)
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
# The deployment tests parse deploy/compose.yaml with PyYAML (go.mod has no
# YAML module).
{ python3 -c 'import yaml' || /usr/bin/python3 -c 'import yaml'; } >/dev/null 2>&1 || need+=(python3-yaml)
# The cluster tests put Debian's HAProxy in front of several gateways
# (deploy/haproxy.cfg, dolbom-sim cluster).
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-tools: missing Debian packages: ${need[*]}" >&2
  echo "ensure-tools: run: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "ensure-tools: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts a system-wide mosquitto on :1883 after install; the tests
# start their own brokers on free ports, and :1883 belongs to dolbomd.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
if [ -x /etc/init.d/mosquitto ]; then /etc/init.d/mosquitto stop >/dev/null 2>&1 || true; fi
pkill -x mosquitto >/dev/null 2>&1 || true
# The same for HAProxy's system service (its stock configuration proxies
# nothing): the cluster tests start their own, each on its own addresses.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now haproxy >/dev/null 2>&1 || true; fi
if [ -x /etc/init.d/haproxy ]; then /etc/init.d/haproxy stop >/dev/null 2>&1 || true; fi
