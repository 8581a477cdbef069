#!/bin/sh
# mae-knn and mae-probe speed: DINO-sized evaluation (60000 train x 10000 test features of
# D=384) against numpy's float32 matmul + argpartition doing the same work in the same run.
# Prints seconds, GFLOP/s of the similarity products, and the ratio to numpy.
set -u
: "${MAE_BUILD:=$(cd "$(dirname "$0")/.." && pwd)/build}"
PATH="$MAE_BUILD/bin:$PATH"
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/mae-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
D=${D:-384}
mae-synth -q -s 1 -n 60 -t feature:F32:1000,$D:randn -t label:I32:1000:randint:10 > "$T/train.mae"
mae-synth -q -s 2 -n 10 -t feature:F32:1000,$D:randn -t label:I32:1000:randint:10 > "$T/test.mae"
t0=$(date +%s.%N)
mae-knn -q -k 10,20,100,200 -t "$T/train.mae" -i "$T/test.mae" > /dev/null || exit 1
t1=$(date +%s.%N)
npt=$($PY - "$D" <<'PY'
import sys, time, numpy as np
d = int(sys.argv[1]); r = np.random.RandomState(0)
tr = r.randn(60000, d).astype(np.float32); te = r.randn(10000, d).astype(np.float32)
t = time.time()
tr /= np.linalg.norm(tr, axis=1, keepdims=True); te /= np.linalg.norm(te, axis=1, keepdims=True)
for i in range(0, 10000, 500):
    s = te[i:i+500] @ tr.T
    np.argpartition(-s, 200, axis=1)[:, :200]
print('%.3f' % (time.time() - t))
PY
)
awk -v a="$t0" -v b="$t1" -v np="$npt" -v d="$D" 'BEGIN {
	s = b - a; gf = 2 * 60000 * 10000 * d / s / 1e9
	printf "mae-knn 60000x10000 D=%d k=10,20,100,200: %.2f s (%.1f GFLOP/s incl. reading), numpy matmul+argpartition: %.2f s, ratio %.2f\n", d, s, gf, np, np / s }'
t0=$(date +%s.%N)
mae-probe -q -e 10 -t "$T/train.mae" -i "$T/test.mae" > /dev/null || exit 1
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v d="$D" 'BEGIN { printf "mae-probe 60000 x D=%d, 10 epochs: %.2f s (%.0f samples/s)\n", d, b - a, 600000 / (b - a) }'
