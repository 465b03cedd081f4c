# bench.sh - sourced by the bench/run*.sh scripts (from the checkout's top folder): builds,
# makes a private folder $work, starts a private MariaDB in it (scripts/lib/mariadb.sh), and
# stops everything on exit. Processes put in $pids are killed on exit.
#   free_port                     prints a free TCP port on 127.0.0.1
#   json_field KEY                a member of the JSON object on stdin
#   start_broker NAME [YAML]      broker with the plugin loading YAML (none: no plugin);
#                                 CNC_MOSQUITTO / CNC_PLUGIN name another broker and .so;
#                                 prints its port, its pid goes to $work/NAME.pid and $pids
scripts/build.sh build >/dev/null
work=$(mktemp -d)
. scripts/lib/mariadb.sh
pids=()
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/mariadb.pid" ] && kill -CONT "$(cat "$work/mariadb.pid")" 2>/dev/null || true # a bench may pause it
  stop_private_mariadb "$work"
  rm -rf "$work"
}
trap bench_cleanup EXIT
start_private_mariadb "$work"

# json_field KEY: the member KEY of the JSON object on stdin (None when absent).
json_field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin).get('$1'))"; }

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_broker() {
  local name=$1 yaml=${2:-} port
  port=$(free_port)
  {
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    [ "$(id -u)" -eq 0 ] && echo "user root"
    echo "max_queued_messages 1000000"
    echo "max_inflight_messages 1000"
    if [ -n "$yaml" ]; then
      echo "plugin ${CNC_PLUGIN:-$PWD/build/cnc_ingest.so}"
      echo "plugin_opt_config_file $yaml"
    fi
  } >"$work/$name.conf"
  "${CNC_MOSQUITTO:-mosquitto}" -c "$work/$name.conf" >"$work/$name.log" 2>&1 &
  echo $! >"$work/$name.pid"
  for _ in $(seq 100); do mosquitto_pub -p "$port" -t ping -m . 2>/dev/null && break; sleep 0.05; done
  echo "$port"
}
