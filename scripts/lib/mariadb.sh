# mariadb.sh - sourced by the benchmark and demo scripts: a private MariaDB server
# in a folder of the caller's, on a unix socket only, with database `cnc` and user
# `cnc` (password in a 0600 file).
#   start_private_mariadb DIR   sets MARIADB_SOCK and MARIADB_PWFILE; the server runs in the background
#   stop_private_mariadb DIR
start_private_mariadb() {
  local dir=$1
  local user_opt=()
  [ "$(id -u)" -eq 0 ] && user_opt=(--user=root)
  mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
    --skip-test-db "${user_opt[@]}" >/dev/null 2>&1
  MARIADB_SOCK="$dir/mariadb.sock"
  mariadbd --no-defaults --datadir="$dir/data" --socket="$MARIADB_SOCK" --skip-networking \
    --pid-file="$dir/mariadb.pid" --log-error="$dir/mariadb.err" --skip-log-bin \
    --innodb-buffer-pool-size=1G --innodb-log-file-size=512M "${user_opt[@]}" &
  for _ in $(seq 300); do [ -S "$MARIADB_SOCK" ] && break; sleep 0.1; done
  mariadb --no-defaults -S "$MARIADB_SOCK" -uroot -e \
    "CREATE DATABASE cnc; CREATE USER cnc@localhost IDENTIFIED BY 'private'; GRANT ALL ON cnc.* TO cnc@localhost;"
  MARIADB_PWFILE="$dir/cnc.password"
  printf 'private\n' >"$MARIADB_PWFILE"
  chmod 600 "$MARIADB_PWFILE"
}

stop_private_mariadb() {
  local dir=$1
  if [ -f "$dir/mariadb.pid" ]; then
    kill "$(cat "$dir/mariadb.pid")" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$(cat "$dir/mariadb.pid" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
  fi
}
