# tests/lib.sh: TAP for the shell tests. Source it, call the checks, end with `finish`.
#   ok COND_EXIT "what"     (use: cmd; ok $? "what")
#   is GOT WANT "what"
#   like TEXT PATTERN "what"
# Programs come from $MAE_BUILD/bin (set by make test); scratch files go to $T.
set -u
: "${MAE_BUILD:=$(cd "$(dirname "$0")/.." && pwd)/build}"
PATH="$MAE_BUILD/bin:$PATH"
export PATH MAE_BUILD
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/mae-test.XXXXXX")
# at_exit CMD: run CMD when the test ends, before $T is removed (the last added runs first):
# for daemons and namespaces that use files under $T. INT, TERM and HUP end the test through
# the same path. MAE_KEEP_TEST=1 keeps the scratch directory, to look at after a failure.
_at_exit=""
at_exit() { _at_exit="$1; $_at_exit"; }
trap 'eval "$_at_exit"; [ -n "${MAE_KEEP_TEST:-}" ] && echo "# kept $T" || rm -rf "$T"; jobs -p | xargs -r kill 2>/dev/null' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
TESTS=0
FAILED=0
TDIR=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$TDIR/lib${PYTHONPATH:+:$PYTHONPATH}"   # maestream.py: streams read with plain msgpack
export PYTHONPATH

ok() {
	TESTS=$((TESTS + 1))
	if [ "$1" -eq 0 ]; then echo "ok $TESTS - $2"; else echo "not ok $TESTS - $2"; FAILED=$((FAILED + 1)); fi
}
is() {
	TESTS=$((TESTS + 1))
	if [ "$1" = "$2" ]; then echo "ok $TESTS - $3"
	else echo "not ok $TESTS - $3"; echo "#   got:  '$1'"; echo "#   want: '$2'"; FAILED=$((FAILED + 1)); fi
}
like() {
	TESTS=$((TESTS + 1))
	if printf '%s' "$1" | grep -Eq -- "$2"; then echo "ok $TESTS - $3"
	else echo "not ok $TESTS - $3"; echo "#   '$1'"; echo "#   does not match '$2'"; FAILED=$((FAILED + 1)); fi
}
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
finish() { echo "1..$TESTS"; [ "$FAILED" -eq 0 ]; exit $?; }
# a free TCP port on the loopback
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# steps_logged DIR: the steps a run's server has logged in DIR/metrics.tsv so far
steps_logged() { tail -n +2 "$1/metrics.tsv" 2>/dev/null | wc -l; }
# wait_steps DIR STEP SECONDS: wait until the server of the run in DIR has logged STEP steps
# (at most SECONDS), to inject a fault there. A micro model's steps take a few ms, and a
# shell polling under make test's load can be held off the CPU for longer than the whole run
# (it was, in tests/hosts.t): the poller, this shell, takes real-time priority (as root;
# where that is refused it polls as it is). Call it in a background subshell.
wait_steps() {
	chrt -f -p 10 "$(sh -c 'echo $PPID')" 2> /dev/null || true
	_w=0
	while [ "$(steps_logged "$1")" -lt "$2" ] && [ $_w -lt $(($3 * 50)) ]; do
		sleep 0.02; _w=$((_w + 1))
	done
}
# spread_reference DIR TRAIN...: the batches that the tests of runs spread over hosts feed
# ($T/b.mae: 384 Fashion-MNIST images in batches of 32, patches of 7, random masks) and
# mae-train's run on them in DIR, the weights a spread run must give bit for bit
spread_reference() {
	_r_dir=$1; shift
	mkdir -p "$_r_dir"
	mae-decode -q -n 384 -b 32 -s 3 fashion-mnist:train | mae-patchify -p 7 | mae-mask -s 3 random > "$T/b.mae" &&
		mae-train -q "$@" -d "$_r_dir" -i "$T/b.mae" > /dev/null
}
