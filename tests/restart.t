#!/bin/sh
# Supervision: pretrain.sh --max-restarts N restarts a run whose stage was killed (kill -9)
# from the state its server saved, with the data resumed at that step, and ends with the
# weights of the same run without faults, bit for bit; past N restarts it stops with status 2.
. "$(dirname "$0")/lib.sh"
P=$TDIR/../pipelines
run() {   # run OUT [options...]: a 128-step pretraining run, its own TMPDIR under $T
	o=$1; shift
	mkdir -p "$T/tmp.$o"
	TMPDIR="$T/tmp.$o" timeout 300 sh "$P/pretrain.sh" -o "$T/$o" --model micro-28 --epochs 8 --batch 64 \
		--warmup-epochs 0.5 --decode "--shuffle -n 1024" "$@" 2>> "$T/$o.err"
}
# kill_at OUT STEP PROGRAM: kill -9 OUT's PROGRAM once its server has logged STEP steps
kill_at() {
	wait_steps "$T/$1" "$2" 60
	pkill -KILL -f "^$3 .*$T/tmp.$1/"
}
steps() { cut -f1 "$T/$1/metrics.tsv" | tail -n +2 | paste -sd' '; }

run ref
ok $? "the reference run: 128 steps without faults"
all=$(seq 1 128 | paste -sd' ')
is "$(steps ref)" "$all" "the reference logs steps 1 to 128"

# 1. mae-reconstruct killed at step 20, mae-encode at step 70: two restarts
{ kill_at two 20 mae-reconstruct; sleep 1; kill_at two 70 mae-encode; } &
run two --max-restarts 2
ok $? "two stages killed (kill -9) mid-run, --max-restarts 2: the run ends with status 0"
wait
is "$(grep -c 'restart [12] of 2: from the state saved at step [0-9]' "$T/two.err")" 2 "it restarted twice, each from a saved step"
like "$(cat "$T/two.err")" "mae-reconstruct|reconstruct" "the first failure is reported"
cmp -s "$T/two/checkpoint.safetensors" "$T/ref/checkpoint.safetensors"
ok $? "the weights of the run without faults, bit for bit"
cmp -s "$T/two/optim.safetensors" "$T/ref/optim.safetensors"
ok $? "and the optimizer's state"
is "$(steps two)" "$all" "every step is logged once, in order"
is "$(ls "$T/tmp.two" | wc -l)" 0 "nothing is left in TMPDIR"

# 2. more faults than restarts: status 2, and it says so
{ kill_at one 20 mae-reconstruct; sleep 1; kill_at one 70 mae-encode; } &
run one --max-restarts 1
is "$?" 2 "two faults with --max-restarts 1: status 2"
wait
like "$(cat "$T/one.err")" "stopped after 1 restarts \(--max-restarts 1\)" "it says it gave up, and why"
s=$(mae-optimize --step-of "$T/one")
[ "$s" -ge 70 ] && [ "$s" -lt 128 ]; ok $? "the state of the last whole step is saved for --resume (step $s)"

# 3. without --max-restarts a dead stage ends the run at once (status 2), the state saved
{ kill_at zero 20 mae-reconstruct; } &
run zero
is "$?" 2 "no --max-restarts: a killed stage ends the run with status 2"
wait
run zero --resume
ok $? "--resume finishes it by hand"
cmp -s "$T/zero/checkpoint.safetensors" "$T/ref/checkpoint.safetensors"
ok $? "with the weights of the run without faults"

# 4. the server itself killed: the stages see it go and stop (MAE_PEER_GRACE), and the run
# restarts from the last state it saved (--save-every 8), bit for bit again
{ kill_at srv 30 mae-optimize; } &
MAE_PEER_GRACE=2 run srv --max-restarts 1 --save-every 8
ok $? "mae-optimize killed at step 30 with --save-every 8: the run ends with status 0"
wait
like "$(cat "$T/srv.err")" "parameter server .*: gone while waiting for updated weights" "the stages say the server is gone"
s=$(sed -n 's/.*restart 1 of 1: from the state saved at step \([0-9]*\)$/\1/p' "$T/srv.err")
[ -n "$s" ] && [ "$s" -gt 0 ] && [ $((s % 8)) = 0 ]; ok $? "the restart begins at a step the server saved, a multiple of 8 (step $s)"
cmp -s "$T/srv/checkpoint.safetensors" "$T/ref/checkpoint.safetensors"
ok $? "the weights of the run without faults, bit for bit"

# 4b. a stage that hangs (SIGSTOP): the server drops it when its heartbeats stop, saves and
# stops the run; pretrain.sh kills what is left of the pipeline (a stopped process ends no
# pipeline) and restarts, bit for bit
( wait_steps "$T/hung" 20 60; pkill -STOP -f "^mae-reconstruct .*$T/tmp.hung/" ) &
MAE_HEARTBEAT=0.5,2 run hung --max-restarts 1
ok $? "mae-reconstruct stopped (SIGSTOP) at step 20, --max-restarts 1: the run ends with status 0"
wait
like "$(cat "$T/hung.err")" "1 of 2 stages disconnected at step [0-9]* without leaving \(did a stage die or hang\?\)" "the server says a stage is gone"
cmp -s "$T/hung/checkpoint.safetensors" "$T/ref/checkpoint.safetensors"
ok $? "the weights of the run without faults, bit for bit"
is "$(pgrep -f "$T/tmp.hung/" | wc -l)" 0 "the stopped stage is not left behind"

# 5. A torn state (the model of one step, the optimiser of another) is refused, never mixed
mkdir -p "$T/torn"
cp "$T/ref/checkpoint.safetensors" "$T/torn/"
cp "$T/srv/optim.safetensors" "$T/torn/" 2>/dev/null
s=$(mae-optimize --step-of "$T/one")
cp "$T/one/optim.safetensors" "$T/torn/"
msg=$(mae-optimize -q --ps "@ipc://$T/torn.ps" --resume "$T/torn" 2>&1); st=$?
is "$st" 2 "--resume of a torn state: status 2"
like "$msg" "checkpoint.safetensors is at step 128 but optim.safetensors at step $s: not one saved state" "  and it says why"
# a checkpoint cut short is refused too
head -c 20000 "$T/ref/checkpoint.safetensors" > "$T/torn/checkpoint.safetensors"
msg=$(mae-optimize -q --ps "@ipc://$T/torn.ps" --resume "$T/torn" 2>&1); st=$?
is "$st" 2 "--resume of a checkpoint cut short: status 2"
like "$msg" "--resume: .*checkpoint.safetensors" "  and it names the file"
# and one with a bit flipped in its data (its CRC-32 no longer matches)
cp "$T/one/checkpoint.safetensors" "$T/torn/checkpoint.safetensors"
$PY -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[-100] ^= 4; open(p,'wb').write(b)" "$T/torn/checkpoint.safetensors"
msg=$(mae-optimize -q --ps "@ipc://$T/torn.ps" --resume "$T/torn" 2>&1); st=$?
is "$st" 2 "--resume of a checkpoint with a bit flipped: status 2"
like "$msg" "data does not match its CRC-32 .*: the file is corrupt" "  and it says the file is corrupt"

is "$(sh "$P/pretrain.sh" --max-restarts x 2>&1)" "pretrain.sh: --max-restarts: a number, not 'x'" "--max-restarts takes a number"
finish
