#!/usr/bin/env bash
# Run a local Neo4j Community server (embedded in neo4j-launcher/, see its pom.xml) for persona-kg.
#
#   scripts/neo4j.sh build    build the launcher (mvn package; skipped when up to date)
#   scripts/neo4j.sh start    build if needed, start in the background, wait until Bolt accepts connections
#   scripts/neo4j.sh stop     stop it (SIGTERM, clean shutdown; SIGKILL after NEO4J_STOP_TIMEOUT seconds)
#   scripts/neo4j.sh status   say whether it runs (exit 0) or not (exit 3)
#   scripts/neo4j.sh wipe     stop it and delete its data
#   scripts/neo4j.sh uri      print the Bolt URI
#
# Environment (defaults in brackets):
#   NEO4J_PORT [7687]  NEO4J_HOST [127.0.0.1]  NEO4J_HOME_DIR [<repo>/.neo4j]  NEO4J_PASSWORD [persona-kg]
#   NEO4J_HEAP [2g]  NEO4J_PAGECACHE [512m]  NEO4J_TX_MAX [2g]  NEO4J_START_TIMEOUT [180]
#   NEO4J_STOP_TIMEOUT [60]  JAVA [java]  MVN [mvn]
#   NEO4J_LOAD_CSV [none]: what LOAD CSV may read — none, import (files under NEO4J_HOME_DIR/import) or any (also URLs)
# Files under NEO4J_HOME_DIR: data/ (store, auth, debug logs), neo4j.pid, neo4j.log (launcher output).
# The password of user "neo4j" is set from NEO4J_PASSWORD at every start.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAUNCHER="$ROOT/neo4j-launcher"
JAR="$LAUNCHER/target/neo4j-launcher.jar"
HOME_DIR="${NEO4J_HOME_DIR:-$ROOT/.neo4j}"
DATA="$HOME_DIR/data"
PIDFILE="$HOME_DIR/neo4j.pid"
LOG="$HOME_DIR/neo4j.log"
HOST="${NEO4J_HOST:-127.0.0.1}"
PORT="${NEO4J_PORT:-7687}"
JAVA="${JAVA:-java}"
MVN="${MVN:-mvn}"

say() { printf 'neo4j.sh: %s\n' "$*"; }
die() { printf 'neo4j.sh: error: %s\n' "$*" >&2; exit 1; }

# The pid in the pidfile, if that process is alive and is our launcher (pids get reused).
running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'neo4j-launcher' || return 1
  echo "$pid"
}

# The launcher's failure line and root cause (a Java stack trace buries them), then the log's tail.
log_excerpt() {
  grep -m1 'FAILED' "$LOG" || true
  grep 'Caused by' "$LOG" | tail -n 1 || true
  echo '...'
  tail -n 15 "$LOG"
}

bolt_open() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

needs_build() {
  [[ -f "$JAR" && -d "$LAUNCHER/target/lib" ]] || return 0
  [[ -n "$(find "$LAUNCHER/pom.xml" "$LAUNCHER/src" -newer "$JAR" -print -quit)" ]]
}

cmd_build() {
  command -v "$MVN" >/dev/null || die "Maven ($MVN) not found: install it (apt-get install maven) or set MVN"
  if ! needs_build; then
    say "launcher up to date ($JAR)"
    return 0
  fi
  if pid="$(running_pid)"; then
    die "Neo4j is running (pid $pid) from the jars being rebuilt: run '$0 stop' first"
  fi
  say "building launcher (first build downloads Neo4j from Maven Central into ~/.m2)"
  (cd "$LAUNCHER" && "$MVN" -q -B -Dstyle.color=never package) || die "mvn package failed in $LAUNCHER"
  touch "$JAR"
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    say "already running (pid $pid) on bolt://$HOST:$PORT"
    return 0
  fi
  command -v "$JAVA" >/dev/null || die "Java ($JAVA) not found: install a JDK 17 or 21 or set JAVA"
  cmd_build
  if bolt_open; then
    die "port $HOST:$PORT is already in use by another process: stop it or set NEO4J_PORT"
  fi
  mkdir -p "$DATA"
  [[ -f "$LOG" ]] && mv -f "$LOG" "$LOG.1"
  # setsid: the server outlives the shell that started it and ignores its Ctrl-C; stop it with 'stop'.
  # shellcheck disable=SC2086
  NEO4J_HOST="$HOST" NEO4J_PORT="$PORT" NEO4J_DATA_DIR="$DATA" nohup setsid "$JAVA" \
    -Xms"${NEO4J_HEAP:-2g}" -Xmx"${NEO4J_HEAP:-2g}" -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow -XX:+DisableExplicitGC \
    -Djdk.nio.maxCachedBufferSize=1024 -Dio.netty.tryReflectionSetAccessible=true -Dlog4j2.disable.jmx=true \
    --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED \
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED \
    ${NEO4J_JAVA_OPTS:-} -jar "$JAR" >"$LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  local timeout="${NEO4J_START_TIMEOUT:-180}" waited=0
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PIDFILE"
      printf 'neo4j.sh: error: Neo4j exited during start; from %s:\n' "$LOG" >&2
      log_excerpt >&2
      exit 1
    fi
    if grep -q '^READY ' "$LOG" && bolt_open; then
      break
    fi
    if ((waited >= timeout)); then
      printf 'neo4j.sh: error: Bolt not accepting connections on %s:%s after %ss; last lines of %s:\n' \
        "$HOST" "$PORT" "$timeout" "$LOG" >&2
      log_excerpt >&2
      cmd_stop >&2 || true
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  say "$(grep -m1 '^READY ' "$LOG")"
  say "started (pid $pid, log $LOG); export NEO4J_URI=bolt://$HOST:$PORT"
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PIDFILE"
    say "not running"
    return 0
  fi
  kill -TERM "$pid"
  local timeout="${NEO4J_STOP_TIMEOUT:-60}" waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= timeout * 5)); then
      say "no clean shutdown after ${timeout}s; killing pid $pid"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  rm -f "$PIDFILE"
  say "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if bolt_open; then
      say "running (pid $pid) on bolt://$HOST:$PORT, data $DATA"
    else
      say "process $pid is up but bolt://$HOST:$PORT does not accept connections (starting?); log $LOG"
    fi
    return 0
  fi
  say "not running"
  return 3
}

cmd_wipe() {
  cmd_stop
  if [[ -d "$DATA" ]]; then
    rm -rf "$DATA"
    say "removed $DATA"
  fi
}

case "${1:-}" in
  build) cmd_build ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop && cmd_start ;;
  status) cmd_status ;;
  wipe) cmd_wipe ;;
  uri) echo "bolt://$HOST:$PORT" ;;
  *)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
