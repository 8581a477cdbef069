#!/bin/sh
# Training across processes: the pipeline decode | patchify | mask | encode | reconstruct |
# loss with mae-optimize trains exactly the model of the in-process step (mae-train); a run
# stopped and resumed ends where an uninterrupted one does; a stage whose gradient never comes
# says so and exits 2; a short pretraining run on Fashion-MNIST lowers the loss.
. "$(dirname "$0")/lib.sh"
export OPENBLAS_NUM_THREADS=1 MAE_THREADS=1   # bitwise comparisons: one thread

M=micro-28
mae-decode -q -n 384 -b 32 -s 3 fashion-mnist:train | mae-patchify -p 7 | mae-mask -s 3 random > "$T/b.mae"
ok $? "12 batches of masked Fashion-MNIST patches"

pipeline() {   # pipeline DIR INPUT MODEL-ARGS...: train through three stage processes and a server
	dir=$1 in=$2; shift 2
	mkdir -p "$dir"
	mae-optimize -q --ps "@ipc://$dir/ps" --timeout 60 "$@" -d "$dir" & ps=$!
	mae-encode -q --ps "ipc://$dir/ps" -i "$in" | mae-reconstruct -q --ps "ipc://$dir/ps" |
		mae-loss -q --loss-only > "$dir/loss.mae"
	st=$?
	wait $ps
	return $((st | $?))
}

pipeline "$T/p" "$T/b.mae" -s 5 -m $M --steps 12 --warmup 2 --lr 1e-3
ok $? "multi-process pipeline trains 12 steps"
mae-train -q -s 5 -m $M --steps 12 --warmup 2 --lr 1e-3 -d "$T/i" -i "$T/b.mae" > "$T/i.loss"
ok $? "in-process mae-train trains the same 12 steps"
cmp -s "$T/p/checkpoint.safetensors" "$T/i/checkpoint.safetensors"
ok $? "pipeline and in-process weights are bitwise identical after 12 steps"
cmp -s "$T/p/optim.safetensors" "$T/i/optim.safetensors"
ok $? "and so are the AdamW moments"
# the pool's hand-offs, all through its condition variables (MAE_SPIN_US=0) or all awake
# (a second of waiting): the same steps, the same weights
MAE_SPIN_US=0 mae-train -q -s 5 -m $M --steps 12 --warmup 2 --lr 1e-3 -d "$T/i0" -i "$T/b.mae" > /dev/null &&
	MAE_SPIN_US=1000000 mae-train -q -s 5 -m $M --steps 12 --warmup 2 --lr 1e-3 -d "$T/i1" -i "$T/b.mae" > /dev/null
ok $? "mae-train with the pool sleeping at once (MAE_SPIN_US=0) and waiting awake"
cmp -s "$T/i0/checkpoint.safetensors" "$T/i/checkpoint.safetensors" &&
	cmp -s "$T/i1/checkpoint.safetensors" "$T/i/checkpoint.safetensors"
ok $? "both give the weights of the default pool"
is "$(cut -f3 "$T/p/metrics.tsv")" "$(cut -f3 "$T/i/metrics.tsv")" "the same loss at every step"

# the same for LoMaR (windowed encoder, linear head) and SimMIM (mask token, L1 loss)
mae-patchify -p 7 < /dev/null > /dev/null 2>&1
mae-decode -q -n 128 -b 16 -s 4 fashion-mnist:train | mae-patchify -p 7 | mae-mask -s 4 window --window 2 --windows 2 > "$T/w.mae"
pipeline "$T/pl" "$T/w.mae" -s 6 -m $M,mode=lomar --steps 8 --warmup 1 --lr 1e-3
ok $? "LoMaR pipeline trains"
mae-train -q -s 6 -m $M,mode=lomar --steps 8 --warmup 1 --lr 1e-3 -d "$T/il" -i "$T/w.mae" > /dev/null
cmp -s "$T/pl/checkpoint.safetensors" "$T/il/checkpoint.safetensors"
ok $? "LoMaR: pipeline and in-process weights identical"
mae-decode -q -n 128 -b 16 -s 4 fashion-mnist:train | mae-patchify -p 7 | mae-mask -s 4 block --cell 1 -r 0.5 > "$T/s.mae"
pipeline "$T/ps" "$T/s.mae" -s 6 -m $M,mode=simmim --steps 8 --warmup 1 --lr 1e-3
mae-train -q -s 6 -m $M,mode=simmim --steps 8 --warmup 1 --lr 1e-3 -d "$T/is" -i "$T/s.mae" > /dev/null
cmp -s "$T/ps/checkpoint.safetensors" "$T/is/checkpoint.safetensors"
ok $? "SimMIM: pipeline and in-process weights identical"

# resume: 6 steps, stop, resume for 6 more == 12 uninterrupted (the run above)
$PY - "$T/b.mae" "$T/b1.mae" "$T/b2.mae" <<'PY'
import msgpack, sys
recs = list(msgpack.Unpacker(open(sys.argv[1], 'rb'), raw=False))
hdr, batches = recs[0], recs[1:-1]
for path, part in ((sys.argv[2], batches[:6]), (sys.argv[3], batches[6:])):
    with open(path, 'wb') as f:
        p = msgpack.Packer(use_bin_type=True)
        f.write(p.pack(hdr))
        for b in part: f.write(p.pack(b))
        f.write(p.pack({'type': 'eos', 'count': len(part), 'skipped': 0}))
PY
pipeline "$T/r" "$T/b1.mae" -s 5 -m $M --steps 12 --warmup 2 --lr 1e-3
is "$(mae-optimize --step-of "$T/r")" 6 "first half stops at step 6"
rm -f "$T/r/ps"
mkdir -p "$T/r2"
mae-optimize -q --ps "@ipc://$T/r2/ps" --resume "$T/r" & ps=$!
mae-encode -q --ps "ipc://$T/r2/ps" -i "$T/b2.mae" | mae-reconstruct -q --ps "ipc://$T/r2/ps" | mae-loss -q --loss-only > /dev/null
wait $ps
ok $? "resumed run finishes"
cmp -s "$T/r/checkpoint.safetensors" "$T/p/checkpoint.safetensors"
ok $? "stopped at 6 and resumed: the same weights at step 12 as the uninterrupted run"
cmp -s "$T/r/optim.safetensors" "$T/p/optim.safetensors"
ok $? "and the same optimiser state"
is "$(wc -l < "$T/r/metrics.tsv")" 13 "metrics continue in the same file"

# decode's --start-batch resumes the data where the run stopped: the same batches as a full run
mae-decode -q -b 100 -e 3 --shuffle -s 2 -n 1000 fashion-mnist:train | mae-inspect -c | grep seq= | tail -17 | cut -d' ' -f2- > "$T/full.txt"
mae-decode -q -b 100 -e 3 --shuffle -s 2 -n 1000 --start-batch 13 fashion-mnist:train | mae-inspect -c | grep seq= | cut -d' ' -f2- > "$T/part.txt"
cmp -s "$T/full.txt" "$T/part.txt"; ok $? "mae-decode --start-batch 13 gives batches 13..29 of the full stream, seq included"

# a trainable stage with no loss stage downstream: clear message, status 2, no hang
mkdir -p "$T/n"
mae-optimize -q --ps "@ipc://$T/n/ps" -m $M --steps 4 --timeout 5 & ps=$!
mkdir -p "$T/gt"   # where the stages' private gradient sockets go: none may be left behind
out=$(TMPDIR="$T/gt" timeout 30 mae-encode --ps "ipc://$T/n/ps" --grad-timeout 2 -i "$T/b.mae" 2>&1 >/dev/null); st=$?
is "$st" 2 "encoder waiting for a gradient that never comes exits 2"
like "$out" "no gradient for batch 0 after 2 s" "and says why"
# its reader goes away: SIGPIPE on the next write, or the closed pipe is noticed while waiting
TMPDIR="$T/gt" timeout 30 sh -c "mae-encode -q --ps ipc://$T/n/ps -i $T/b.mae 2>$T/closed.err; echo \$? > $T/closed.st" | head -c 10 > /dev/null
st=$(cat "$T/closed.st")
ok $([ "$st" = 141 ] || { [ "$st" = 2 ] && grep -q "closed downstream" "$T/closed.err"; }; echo $?) \
	"encoder whose reader went away ends at once (status $st)"
# stopped by a signal while it waits for a gradient: it still ends as the signal says
TMPDIR="$T/gt" mae-encode -q --ps "ipc://$T/n/ps" -i "$T/b.mae" > /dev/null & enc=$!
i=0; while [ -z "$(ls "$T/gt")" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM $enc; wait $enc
is $? 143 "encoder stopped by SIGTERM while waiting for a gradient ends with status 143"
is "$(ls "$T/gt" | wc -l)" 0 "and no failing encoder leaves its gradient socket behind (timeout, reader gone, SIGTERM)"
wait $ps
is $? 2 "parameter server left alone gives up after its timeout with status 2"

# a short pretraining run on Fashion-MNIST whose loss falls clearly
mae-decode -q -n 4096 -b 64 -e 2 -s 7 fashion-mnist:train | mae-patchify -p 7 | mae-mask -s 7 random > "$T/f.mae"
pipeline "$T/f" "$T/f.mae" -s 7 -m $M --steps 128 --warmup 10 --lr 2e-3
ok $? "128-step pretraining pipeline"
$PY - "$T/f/metrics.tsv" <<'PY'
import sys
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n')[1:] if l]
loss = [float(r[2]) for r in rows]
first, last = sum(loss[:8]) / 8, sum(loss[-8:]) / 8
print(f'# loss: first 8 steps {first:.4f}, last 8 steps {last:.4f}')
sys.exit(0 if len(loss) == 128 and last < 0.8 * first else 1)
PY
ok $? "loss of the last 8 steps is below 0.8 x that of the first 8"
finish
