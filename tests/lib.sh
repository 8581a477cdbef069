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
# same_training NAME MODEL STREAM: 8 steps of MODEL on STREAM through the stage processes (a
# server, mae-encode | mae-reconstruct | mae-loss) in $T/p and in one process (mae-train) in
# $T/i; checks that both run and that they give the same weights, AdamW moments and losses
same_training() {
	mkdir -p "$T/p"
	mae-optimize -q --ps "@ipc://$T/p/ps" --timeout 60 -s 6 -m "$2" --steps 8 --warmup 1 --lr 1e-3 -d "$T/p" & _s_ps=$!
	mae-encode -q --ps "ipc://$T/p/ps" -i "$3" | mae-reconstruct -q --ps "ipc://$T/p/ps" |
		mae-loss -q --loss-only > "$T/p/loss.mae"
	_s_st=$?; wait $_s_ps
	ok $((_s_st | $?)) "the $1 pipeline trains 8 steps"
	mae-train -q -s 6 -m "$2" --steps 8 --warmup 1 --lr 1e-3 -d "$T/i" -i "$3" > /dev/null
	ok $? "mae-train trains the same 8 steps"
	cmp -s "$T/p/checkpoint.safetensors" "$T/i/checkpoint.safetensors" && cmp -s "$T/p/optim.safetensors" "$T/i/optim.safetensors"
	ok $? "pipeline and in-process weights and AdamW moments are bitwise identical"
	is "$(cut -f3 "$T/p/metrics.tsv")" "$(cut -f3 "$T/i/metrics.tsv")" "the same loss at every step"
}
# pretrain_twice METHOD: pretrain.sh --method METHOD (a teacher's) twice into $T/a and $T/b
# (micro-28, 16 steps); checks the runs, their teacher, and the same checkpoint and moving
# average, bit for bit
pretrain_twice() {
	for _p_r in a b; do
		timeout 300 sh "$TDIR/../pipelines/pretrain.sh" -o "$T/$_p_r" --method "$1" --model micro-28 --epochs 2 \
			--batch 64 --decode "--shuffle -n 512" 2> "$T/$_p_r.err"
		ok $? "pretrain.sh --method $1 trains (run $_p_r)"
	done
	is "$(tail -1 "$T/a/metrics.tsv" | cut -f1)" 16 "  16 steps"
	like "$(cat "$T/a.err")" "teacher replica 0 joined at step 0" "  with its teacher"
	cmp "$T/a/checkpoint.safetensors" "$T/b/checkpoint.safetensors" && cmp "$T/a/ema.safetensors" "$T/b/ema.safetensors"
	ok $? "  and two runs give the same checkpoint and the same average, bit for bit"
}
