#!/bin/sh
# A run spread over three real hosts (network namespaces with their own addresses, sshd on
# each) by pipelines/launch.sh over ssh, in the three shapes of mae(7): decoding on two
# hosts and the model on a third, the model cut between two hosts, and two data-parallel
# replicas. Each gives the weights of one process on one host (the first two bit for bit,
# the replicas within float rounding). Then the launcher's failures: a stage that fails,
# Ctrl-C, and a launcher killed outright, each leaving no process behind on any host.
. "$(dirname "$0")/lib.sh"
. "$TDIR/lib/hosts.sh"
hosts_available || skip_all "network namespaces: $HOSTS_WHY"
command -v sshd > /dev/null || [ -x /usr/sbin/sshd ] || skip_all "no sshd (Debian package openssh-server)"
hosts_up 3 --ssh || { echo "not ok 1 - three hosts with sshd"; exit 1; }
LAUNCH="$TDIR/../pipelines/launch.sh"
export OPENBLAS_NUM_THREADS=1 MAE_THREADS=1
M=micro-28
TRAIN="-s 5 -m $M --steps 12 --warmup 2 --lr 1e-3"
FEED="mae-patchify -p 7 | mae-mask -s 3 random"
spread_reference "$T/one" $TRAIN
ok $? "the reference: mae-train, one process on one host"

# placement NAME PORT: the head of a placement over hosts h1..h3 (written to $T/NAME.place)
placement() {
	cat > "$T/$1.place" <<-EOF
	transport ssh
	host h1 $(host_addr 1)
	host h2 $(host_addr 2)
	host h3 $(host_addr 3)
	port $2
	env OPENBLAS_NUM_THREADS=1
	env MAE_THREADS=1
	dir $T
	EOF
	cat >> "$T/$1.place"
}
# fanned_in NAME PORT IMAGES LOSS SERVER-OPTIONS: decoding on hosts 1 and 2 (every other
# batch each), the model, its loss (written to LOSS) and its server on host 3
fanned_in() {
	placement "$1" "$2" <<-EOF
	stage decode h1,h2 mae-decode -q -n $3 -b 32 -s 3 --batch-shard {copy}/{copies} fashion-mnist:train
	stage patchify h1,h2 mae-patchify -p 7
	stage mask h1,h2 mae-mask -s 3 random
	stage encode h3 mae-encode -q --ordered
	stage reconstruct h3 mae-reconstruct -q
	stage loss h3 mae-loss -q --loss-only -o $4
	server h3 mae-optimize -q --timeout 60 $5 -d $T/$1
	EOF
}
# cut_model NAME PORT IMAGES LOSS SERVER-OPTIONS: data and encoder on host 1, decoder and
# loss on host 2, the server on host 3
cut_model() {
	placement "$1" "$2" <<-EOF
	stage decode h1 mae-decode -q -n $3 -b 32 -s 3 fashion-mnist:train
	stage patchify h1 mae-patchify -p 7
	stage mask h1 mae-mask -s 3 random
	stage encode h1 mae-encode -q
	stage reconstruct h2 mae-reconstruct -q
	stage loss h2 mae-loss -q --loss-only -o $4
	server h3 mae-optimize -q --timeout 60 $5 -d $T/$1
	EOF
}
# launched NAME WHAT: run placement NAME to its end; it must end well, with the weights of the
# one-host run, bit for bit
launched() {
	timeout 120 "$LAUNCH" "$T/$1.place" 2> "$T/$1.err"
	ok $? "$2"
	cmp -s "$T/$1/checkpoint.safetensors" "$T/one/checkpoint.safetensors"
	ok $? "${2%%:*}: the weights of the one-host run, bit for bit"
}
# kill_at STEP NAME PATTERN: kill -9 the newest process matching PATTERN once the server of
# run NAME has logged STEP steps (at most 30 s); writes "killed" or "not found ..." to $T/NAME.kill
kill_at() {
	wait_steps "$T/$2" "$1" 30   # (the runs have 300 steps: 60 went by unseen under load)
	_k=0   # (a process restarting or still being exec'd over ssh is looked for again, up to 5 s)
	until pkill -KILL -n -f "$3"; do
		[ $_k -lt 50 ] || { echo "not found at step $(steps_logged "$T/$2")" > "$T/$2.kill"; return; }
		sleep 0.1; _k=$((_k + 1))
	done
	echo killed > "$T/$2.kill"
}
# ours: the pids of every process of this run (their command lines name our $T)
# (not this shell, nor the harness's sshd listeners, whose configuration files are under $T)
ours() { pgrep -f -- "$T/" | grep -vxF "$(printf '%s\n' $$ $HOSTS_SSHD)" | tr '\n' ' '; }

# 1. decoding on hosts 1 and 2 (every other batch each), the model and its server on host 3
fanned_in s1 5610 384 "$T/s1.loss" "$TRAIN"
launched s1 "shape 1: decode on hosts 1 and 2, model on host 3, over ssh"
is "$(cut -f3 "$T/s1/metrics.tsv")" "$(cut -f3 "$T/one/metrics.tsv")" "shape 1: the same loss at every step"
"$LAUNCH" -n "$T/s1.place" > "$T/s1.plan"
like "$(grep 'h3 encode' "$T/s1.plan")" "mae-encode -i @tcp://$(host_addr 3):5611 --merge 2 --ps tcp://$(host_addr 3):5610 " \
	"shape 1: the encoder merges both decoders on host 3's address"
like "$(grep 'h2 decode' "$T/s1.plan")" "--batch-shard 1/2 .*-o '>tcp://$(host_addr 3):5611'" "shape 1: host 2 decodes batch shard 1/2 and pushes to host 3"
ss -tn 2>/dev/null > /dev/null   # (connections live in the hosts' namespaces, not here)
grep -v '^\[' "$T/s1.err" > "$T/s1.stray"
is "$(cat "$T/s1.stray")" "" "shape 1: every line of stderr is labelled with its host and stage"

# 2. the model cut between hosts: encoder on host 1, decoder and loss on host 2, server on 3;
# the gradient of the latent goes back from host 2 to host 1 over TCP
cut_model s2 5620 384 "$T/s2.loss" "$TRAIN"
launched s2 "shape 2: encoder on host 1, decoder on host 2, server on host 3"
like "$("$LAUNCH" -n "$T/s2.place" | grep 'h1 decode')" "mae-encode .*--ps tcp://$(host_addr 3):5620 --grad @tcp://$(host_addr 1):5622" \
	"shape 2: the encoder takes its gradient on host 1's address"

# 2c. the same cut with CURVE on every TCP link (the launcher's 'curve DIR'): the same weights;
# from host 1, a client with a key of its own and one without CURVE say hello to the server
# on host 3 before the data flows (the encoder reads a FIFO the test opens after them)
mae-keygen -q "$T/keys"
mkfifo "$T/gate"
placement s2c 5640 <<EOF
curve keys
stage encode h1 mae-encode -q -i $T/gate
stage reconstruct h2 mae-reconstruct -q
stage loss h2 mae-loss -q --loss-only -o /dev/null
server h3 mae-optimize -q --timeout 60 $TRAIN -d $T/s2c
EOF
timeout 120 "$LAUNCH" "$T/s2c.place" 2> "$T/s2c.err" & launcher=$!
host_wait_listen 3 5640 20
on 1 $PY - "$(host_addr 3)" "$T/keys/server.pub" > "$T/s2c.intruders" <<'PY'
import sys, zmq, msgpack
ctx = zmq.Context()
for who in ('own key', 'no CURVE'):
    s = ctx.socket(zmq.DEALER); s.linger = 0; s.rcvtimeo = 2000
    if who == 'own key':
        s.curve_serverkey = open(sys.argv[2]).read().split()[0].encode()
        s.curve_publickey, s.curve_secretkey = zmq.curve_keypair()
    s.connect('tcp://%s:5640' % sys.argv[1])
    s.send(msgpack.packb({'type': 'header', 'op': 'hello', 'group': 'encoder', 'replica': 0}))
    try:
        s.recv(); print(who, 'answered')
    except zmq.Again:
        print(who, 'no answer')
    s.close()
PY
timeout 60 sh -c 'cat "$1" > "$2"' _ "$T/b.mae" "$T/gate"   # (bounded: a run that failed never opens it)
wait $launcher
ok $? "CURVE on every link (curve keys): the cut model over three hosts ends well"
cmp -s "$T/s2c/checkpoint.safetensors" "$T/one/checkpoint.safetensors"
ok $? "  with the weights of the one-host run, bit for bit"
is "$(paste -sd, "$T/s2c.intruders")" "own key no answer,no CURVE no answer" "  clients without the run's keys get no answer from the server"
like "$(cat "$T/s2c.err")" "h3 server.*refused a client from $(host_addr 1): its key" "  the refusal is logged with the client's address"
mkdir -p "$T/nokeys"; sed 's/^curve keys$/curve nokeys/' "$T/s2c.place" > "$T/s2n.place"
msg=$("$LAUNCH" "$T/s2n.place" 2>&1); st=$?
is "$st:$msg" "2:launch.sh: $T/s2n.place: curve nokeys: no server.pub there (make the keys with mae-keygen nokeys)" \
	"  a curve directory without the keys is refused before anything starts"

# 2r. supervision across hosts: the cut model over 300 steps, mae-reconstruct on host 2 killed
# (kill -9) at step 10; launch.sh --max-restarts 1 starts the run again from the state the
# server on host 3 saved (the server with --resume, the decoder with --start-batch): the
# weights of mae-train's 300 steps, bit for bit, every step logged once
LONG="-s 5 -m $M --steps 300 --warmup 2 --lr 1e-3"
mkdir -p "$T/long"
mae-decode -q -n 9600 -b 32 -s 3 fashion-mnist:train | mae-patchify -p 7 | mae-mask -s 3 random |
	mae-train -q $LONG -d "$T/long" > /dev/null
cut_model s2r 5650 9600 /dev/null "$LONG"
kill_at 10 s2r "^mae-reconstruct -i @tcp://$(host_addr 2):5651" & killer=$!
timeout 180 "$LAUNCH" --max-restarts 1 "$T/s2r.place" 2> "$T/s2r.err"
ok $? "--max-restarts 1: mae-reconstruct killed on host 2 at step 10, the run ends well"
wait $killer   # (not a bare wait: the hosts' sshd are children of this shell)
is "$(cat "$T/s2r.kill")" killed "  the kill found mae-reconstruct running at step 10"
like "$(cat "$T/s2r.err")" "launch.sh: restart 1 of 1: from the state saved at step [0-9]+" "  it restarted from the step the server saved"
cmp -s "$T/s2r/checkpoint.safetensors" "$T/long/checkpoint.safetensors"
ok $? "  with the weights of mae-train's 300 steps, bit for bit"
is "$(tail -n +2 "$T/s2r/metrics.tsv" | cut -f1 | paste -sd' ')" "$(seq 1 300 | paste -sd' ')" "  every step logged once"

# 1r. the same with the data fanned in: decoding on hosts 1 and 2 (--batch-shard, an ordered
# merge on host 3), the encoder that merges them killed at step 10; the restart begins both
# decoders at the saved step, bit for bit. (Not a mask stage: an ordered merge holds the
# batches that come before their turn, so both hosts' producers may hand on all their batches
# and end within a second, before any step 10: so it went on a CI machine. The encoder lives
# until the last step.)
fanned_in s1r 5660 9600 /dev/null "$LONG"
kill_at 10 s1r "^mae-encode -i @tcp://$(host_addr 3):5661" & killer=$!
timeout 180 "$LAUNCH" --max-restarts 1 "$T/s1r.place" 2> "$T/s1r.err"
ok $? "--max-restarts 1: the merging encoder of a fanned-in run killed at step 10, the run ends well"
wait $killer
is "$(cat "$T/s1r.kill")" killed "  the kill found the encoder running at step 10"
like "$(cat "$T/s1r.err")" "launch.sh: restart 1 of 1: from the state saved at step [0-9]+" "  it restarted from the step the server saved"
cmp -s "$T/s1r/checkpoint.safetensors" "$T/long/checkpoint.safetensors"
ok $? "  with the weights of mae-train's 300 steps, bit for bit"

# 3. two replicas (hosts 1 and 2, half of every batch each), their server on host 3,
# against one replica at twice the batch
mkdir -p "$T/big"
mae-decode -q -n 384 -b 64 -s 3 fashion-mnist:train | mae-patchify -p 7 | mae-mask -s 3 random |
	mae-train -q -s 5 -m $M --steps 6 --warmup 2 --lr 1e-3 -d "$T/big" > /dev/null
placement s3 5630 <<EOF
stage decode h1,h2 mae-decode -q -n 384 -b 32 -s 3 --shard {copy}/{copies} fashion-mnist:train
stage patchify h1,h2 mae-patchify -p 7
stage mask h1,h2 mae-mask -s 3 random
stage encode h1,h2 mae-encode -q
stage reconstruct h1,h2 mae-reconstruct -q
stage loss h1,h2 mae-loss -q --loss-only
server h3 mae-optimize -q --timeout 60 -s 5 -m $M --steps 6 --warmup 2 --lr 1e-3 -d $T/s3
EOF
timeout 120 "$LAUNCH" "$T/s3.place" 2> "$T/s3.err"
ok $? "shape 3: two replicas on hosts 1 and 2, server on host 3"
like "$("$LAUNCH" -n "$T/s3.place" | grep 'h3 server')" "--replicas 2" "shape 3: the server is told of two replicas"
# The replicas' gradient is the mean of two half-batch sums, one process's the sum over the
# whole batch: the same numbers summed in another order. Every tensor agrees to 1e-5 of its
# largest value but the keys' bias, whose exact gradient is zero (softmax ignores a constant
# added to every score of a query): its gradient is rounding noise, which AdamW scales up to
# a step of about lr, so there the replicas may differ by up to lr x steps (6e-3).
cat > "$T/close.py" <<'PY'
import json, struct, sys
import numpy as np
def load(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n]); d = b[8 + n:]
    return {k: np.frombuffer(d[v['data_offsets'][0]:v['data_offsets'][1]], np.float32)
            for k, v in h.items() if k != '__metadata__' and v['dtype'] == 'F32'}
a, b = load(sys.argv[1]), load(sys.argv[2])
bound = float(sys.argv[3])
worst, worst_k = 0.0, 0.0
for k in b:
    x, y = a[k], b[k]
    if k.endswith('attn.qkv.bias'):
        d = x.size // 3
        worst_k = max(worst_k, float(np.abs(x[d:2 * d] - y[d:2 * d]).max()))
        x, y = np.concatenate([x[:d], x[2 * d:]]), np.concatenate([y[:d], y[2 * d:]])
    worst = max(worst, float(np.abs(x - y).max() / (np.abs(y).max() + 1e-12)))
print(sorted(a) == sorted(b), worst < 1e-5, worst_k <= bound, worst, worst_k)
PY
res=$($PY "$T/close.py" "$T/s3/checkpoint.safetensors" "$T/big/checkpoint.safetensors" 6e-3)
like "$res" "^True True True " "shape 3: two replicas of 32 give the weights of one of 64: relative difference $(echo $res | cut -d' ' -f4) (< 1e-5), keys' bias $(echo $res | cut -d' ' -f5) (<= lr x steps)"
l3=$(cut -f3 "$T/s3/metrics.tsv" | tail -n +2 | cut -c1-6 | paste -sd' ')
is "$l3" "$(cut -f3 "$T/big/metrics.tsv" | tail -n +2 | cut -c1-6 | paste -sd' ')" "shape 3: and the same loss at every step, to 4 decimals"

# 4. A stage that fails: everything stops, the status is 2, the message names it
placement f1 5640 <<EOF
stage decode h1 mae-decode -q -n 384 -b 32 -s 3 -e 1000 fashion-mnist:train
stage patchify h1 mae-patchify -p 7
stage mask h2 mae-mask -s 3 no-such-masker
stage inspect h3 mae-inspect -q -o $T/f1.out
EOF
timeout 60 "$LAUNCH" "$T/f1.place" 2> "$T/f1.err"
is "$?" 2 "a stage that fails on host 2: the launcher's status is 2"
like "$(cat "$T/f1.err")" "launch.sh: h2 mask.0 failed" "the launcher names the failed stage and host"
like "$(cat "$T/f1.err")" "\[h2 mask.0\] launch: mask.0 exited 1" "the host reports the program's own status"
sleep 1
is "$(ours)" "" "after the failure no process of the run is left on any host"

# 5. Ctrl-C stops every host; so does the launcher's death (its ssh sessions end).
# A background job of a non-interactive shell starts with SIGINT ignored, which bash cannot
# trap: the launcher is started as a terminal's foreground job would be, SIGINT at default.
# (exec: in the background the function runs in a subshell, whose pid $! is; for background use)
interactive() { exec $PY -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' "$@"; }
placement long 5650 <<EOF
stage decode h1 mae-decode -q -b 32 -s 3 -e 100000 fashion-mnist:train
stage patchify h2 mae-patchify -p 7
stage inspect h3 mae-inspect -q -c -o $T/long.out
EOF
interactive "$LAUNCH" "$T/long.place" 2> "$T/int.err" & l=$!
n=0; while [ ! -s "$T/long.out" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
running=$(ours | wc -w)
kill -INT $l; wait $l
is "$?" 130 "Ctrl-C: the launcher's status is 130"
sleep 1
is "$(ours)" "" "Ctrl-C: none of the $running processes of the run is left"
"$LAUNCH" "$T/long.place" 2> /dev/null & l=$!
n=0; rm -f "$T/long.out"; while [ ! -s "$T/long.out" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
kill -KILL $l; wait $l 2>/dev/null
n=0; while [ -n "$(ours)" ] && [ $n -lt 50 ]; do sleep 0.2; n=$((n + 1)); done
is "$(ours)" "" "a launcher killed by SIGKILL: its ssh sessions end and take the hosts' processes with them"

# 6. Placement errors are found before anything starts
printf 'host a 127.0.0.1\nstage x b mae-inspect\n' > "$T/bad1.place"
msg=$("$LAUNCH" "$T/bad1.place" 2>&1); st=$?
is "$st:$msg" "2:launch.sh: $T/bad1.place: stage x: unknown host 'b'" "a stage on an unknown host"
printf 'host a 127.0.0.1\nhost b 127.0.0.1\nstage x a,b mae-decode fashion-mnist\nstage y a,a,b mae-inspect\n' > "$T/bad2.place"
like "$("$LAUNCH" "$T/bad2.place" 2>&1)" "stage x runs 2 copies and y 3" "copies that cannot be linked"
printf 'host a 127.0.0.1\nstage x a mae-encode -q\n' > "$T/bad3.place"
like "$("$LAUNCH" "$T/bad3.place" 2>&1)" "stage x trains but there is no server line" "a trainable stage without a server"
printf 'transport rsh\n' > "$T/bad4.place"
like "$("$LAUNCH" "$T/bad4.place" 2>&1)" "bad4.place:1: transport 'rsh' is not local, ssh or slurm" "an unknown transport, with its line"
finish
