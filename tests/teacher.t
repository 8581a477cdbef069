#!/bin/sh
# The teacher: mae-optimize --ema keeps a moving average of the encoder that trains, and a
# frozen mae-encode --teacher follows it, batch i taking the average of step K*floor(i/K)
# (ema.h). Checked: the teacher's attention is a function of (images, snapshot) only (the
# same images under one snapshot give the same bits, under a later one other bits); the run
# saves its average with the snapshot's step; a run with a teacher (pretrain.sh --method
# attmask) trains and gives the same bits twice; a teacher without an average to follow, and
# a teacher's options without a server, are refused.
. "$(dirname "$0")/lib.sh"
export OPENBLAS_NUM_THREADS=1 MAE_THREADS=1
P=$TDIR/../pipelines

# 4 epochs of the same 128 images in 2 batches (no shuffle, no augmentation): batches 0-1 and
# 2-3 share snapshot 0, batches 4-5 and 6-7 snapshot 4 (--ema-every 4)
d=$T/run
mkdir -p "$d"
mae-optimize -q --ps "@ipc://$d/ps" -s 3 -m micro-28 --steps 8 --warmup 1 --lr 1e-3 --ema 0.9 \
	--ema-every 4 -d "$d" & ps=$!
mae-decode -q -e 4 -b 64 -n 128 fashion-mnist:train | mae-patchify -q -p 7 |
	mae-encode -q --ps "ipc://$d/ps" --teacher -a --no-latent | tee "$d/teacher.mae" |
	mae-mask -q -s 3 attention --mode high -r 0.75 --ratio-var 0 --mask-prob 1 |
	mae-encode -q --ps "ipc://$d/ps" | mae-reconstruct -q --ps "ipc://$d/ps" | mae-loss -q --loss-only > /dev/null
ok $? "a run with a teacher between mae-patchify and mae-mask: its pipeline ends well"
wait $ps
ok $? "  and its server"
is "$(tail -1 "$d/metrics.tsv" | cut -f1)" 8 "  8 steps in the metrics"
$PY - "$d/teacher.mae" > "$T/att.out" 2>&1 <<'PY'
import sys, numpy as np
from maestream import records, tensor
b = [tensor(r['tensors']['attn']) for r in records(sys.argv[1])[1:-1]]
same = np.array_equal
print(len(b), 'batches')
print('snapshot 0 twice:', same(b[0], b[2]) and same(b[1], b[3]))
print('snapshot 4 twice:', same(b[4], b[6]) and same(b[5], b[7]))
print('moved:', not same(b[0], b[4]) and not same(b[1], b[5]))
print('attention:', all(np.isfinite(x).all() and (x >= 0).all() and x.shape == (64, 16) for x in b))
PY
is "$(cat "$T/att.out")" "8 batches
snapshot 0 twice: True
snapshot 4 twice: True
moved: True
attention: True" "the teacher's attention depends on the images and the snapshot only, and follows the average"
$PY - "$d/ema.safetensors" "$d/checkpoint.safetensors" > "$T/ema.out" 2>&1 <<'PY'
import sys, json, struct, numpy as np
def st(path):
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    return h, raw[8 + n:]
h, data = st(sys.argv[1])
m = h['__metadata__']
a = h['ema']['data_offsets']
avg = np.frombuffer(data[a[0]:a[1]], '<f4')
s = h['snapshot']['data_offsets']
snap = np.frombuffer(data[s[0]:s[1]], '<f4')
print(m['step'], m['snapshot_step'], m['momentum'], m['every'], avg.size, np.isfinite(avg).all(),
      np.array_equal(avg, snap))
PY
is "$(cat "$T/ema.out")" "8 8 0.90000000000000002 4 27104 True True" \
	"ema.safetensors: the average after 8 steps, its snapshot at step 8, m 0.9, K 4, the 27104 encoder values"

# pretrain.sh --method attmask: the teacher is the method's own stage; twice the same bits
pretrain_twice attmask

# a restart: the teacher killed at step 20 and the student's decoder at step 50 (the saved
# steps are no multiples of K = 10); the run restarts from the saved state, the teacher pulls
# the saved snapshot, and the run ends with the bits of the run without faults
run() {   # run OUT [options...]: 128 steps of attmask, its own TMPDIR under $T
	o=$1; shift
	mkdir -p "$T/tmp.$o"
	TMPDIR="$T/tmp.$o" timeout 300 sh "$P/pretrain.sh" -o "$T/$o" --method attmask --model micro-28 \
		--epochs 8 --batch 64 --warmup-epochs 0.5 --decode "--shuffle -n 1024" "$@" 2>> "$T/$o.err"
}
kill_at() {   # kill_at OUT STEP PATTERN: kill -9 what PATTERN matches once OUT has STEP steps
	wait_steps "$T/$1" "$2" 60
	pkill -KILL -f "$3"
}
run ref
ok $? "attmask: a 128-step run without faults"
{ kill_at two 20 "^mae-encode .*$T/tmp.two/.*--teacher"; sleep 1; kill_at two 50 "^mae-reconstruct .*$T/tmp.two/"; } &
run two --max-restarts 2
ok $? "the teacher killed at step 20, the decoder at step 50, --max-restarts 2: the run ends well"
wait
is "$(grep -c 'restart [12] of 2: from the state saved at step [0-9]' "$T/two.err")" 2 "  it restarted twice, from saved steps"
cmp "$T/two/checkpoint.safetensors" "$T/ref/checkpoint.safetensors" && cmp "$T/two/ema.safetensors" "$T/ref/ema.safetensors"
ok $? "  with the weights and the average of the run without faults, bit for bit"

# refusals
mkdir -p "$T/noema"
mae-optimize -q --ps "@ipc://$T/noema/ps" -m micro-28 --steps 1 --timeout 5 2> "$T/noema-ps.err" & ps=$!
mae-decode -q -n 64 -b 64 fashion-mnist:train | mae-patchify -q -p 7 |
	mae-encode -q --ps "ipc://$T/noema/ps" --teacher -a --no-latent > /dev/null 2> "$T/noema.err"
is "$?" 2 "a teacher at a server that keeps no average: status 2"
like "$(cat "$T/noema.err")" "keeps the encoder's moving average \(mae-optimize --ema M\); this one keeps none" \
	"  and it says why"
kill $ps 2>/dev/null; wait $ps 2>/dev/null
mae-encode --teacher -w "$d/checkpoint.safetensors" < /dev/null > /dev/null 2> "$T/tw.err"
is "$?" 1 "--teacher without --ps: status 1"
mae-optimize --ps "@ipc://$T/x" -m micro-28 --steps 1 --ema-every 4 > /dev/null 2> "$T/ee.err"
is "$?" 1 "--ema-every without --ema: status 1"
like "$(cat "$T/ee.err")" "mae-optimize: --ema-every: with --ema M" "  and it says so"
finish
