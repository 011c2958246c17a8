# Sourced by the demo scripts (sh): start_mock NAME PORTFILE [FLAG...] starts build/cxone-mock
# with the flags on a free loopback port, stops it whenever the script exits (Ctrl-C included:
# exit 130), waits until it has written its port (at most 5 s) and sets $url.
stop_mock() { kill "$mock" 2>/dev/null || true; wait "$mock" 2>/dev/null || true; }

start_mock() {
  name=$1 portfile=$2
  shift 2
  : > "$portfile"
  build/cxone-mock "$@" --quiet > "$portfile" &
  mock=$!
  trap stop_mock EXIT
  trap 'exit 130' INT TERM
  tries=0
  until [ -s "$portfile" ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ] || ! kill -0 "$mock" 2>/dev/null; then
      echo "$name: the mock server did not start" >&2
      exit 1
    fi
    sleep 0.05
  done
  url="http://127.0.0.1:$(head -n 1 "$portfile")"
}
