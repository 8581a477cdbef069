#!/bin/sh
# mae-probe on synthetic data written by Python: linearly separable classes reach 100%, a
# noisy problem lands where numpy's own softmax regression does, runs are reproducible by
# seed, and bad input is a clear error.
. "$(dirname "$0")/lib.sh"
$PY -c 'import numpy, msgpack' 2>/dev/null || skip_all "python3 numpy/msgpack missing"

$PY - "$T" <<'PY'
import sys, msgpack, numpy as np
d = sys.argv[1]
def write(path, x, y, batch=64):
    p = msgpack.Packer(use_bin_type=True)
    with open(path, 'wb') as f:
        f.write(p.pack({'type': 'header', 'version': 1, 'producer': 'py', 'argv': [], 'seed': 0, 'count': -1, 'meta': {}, 'stages': []}))
        n = 0
        for i in range(0, len(y), batch):
            a = x[i:i+batch].astype('<f4'); b = y[i:i+batch].astype('<i4')
            f.write(p.pack({'type': 'batch', 'seq': n, 'tensors': {
                'feature': {'dtype': 'F32', 'shape': list(a.shape), 'data': a.tobytes()},
                'label': {'dtype': 'I32', 'shape': [len(b)], 'data': b.tobytes()}}}))
            n += 1
        f.write(p.pack({'type': 'eos', 'count': n, 'skipped': 0}))
r = np.random.RandomState(5)
# separable: class = argmax of a fixed linear map, with a margin; features on a large offset and
# scale (the standardization has to handle it)
W = r.randn(5, 40)
def sep(n):
    out_x, out_y = [], []
    while len(out_y) < n:
        x = r.randn(40)
        s = np.sort(W @ x)
        if s[-1] - s[-2] > 2.0:
            out_x.append(x); out_y.append(int(np.argmax(W @ x)))
    return np.array(out_x) * 50 + 1000, np.array(out_y)
x, y = sep(2000); write(d + '/sep_train.mae', x, y)
x, y = sep(500); write(d + '/sep_test.mae', x, y)
# noisy Gaussian classes
C = r.randn(4, 16) * 0.6
def noisy(n):
    y = r.randint(0, 4, n); return C[y] + r.randn(n, 16), y
x, y = noisy(3000); write(d + '/n_train.mae', x, y)
xt, yt = noisy(1000); write(d + '/n_test.mae', xt, yt)
# numpy's softmax regression by full-batch gradient descent on standardized features
m, s = x.mean(0), x.std(0)
z, zt = (x - m) / s, (xt - m) / s
Wn = np.zeros((4, 16)); bn = np.zeros(4)
for it in range(3000):
    l = z @ Wn.T + bn; l -= l.max(1, keepdims=True); p = np.exp(l); p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1; p /= len(y)
    Wn -= 0.5 * p.T @ z; bn -= 0.5 * p.sum(0)
acc = 100 * ((zt @ Wn.T + bn).argmax(1) == yt).mean()
open(d + '/n_want.txt', 'w').write('%.2f\n' % acc)
write(d + '/d8.mae', xt[:, :8], yt)
PY
ok $? "Python writes synthetic feature streams"

out=$(mae-probe -q -e 30 -t "$T/sep_train.mae" -i "$T/sep_test.mae"); ok $? "mae-probe on separable data"
is "$out" "top1=100.00% n=500" "separable classes (offset 1000, scale 50): 100%"

out=$(mae-probe -q -e 20 -s 3 -t "$T/n_train.mae" -i "$T/n_test.mae")
got=$(printf '%s\n' "$out" | sed -n 's/^top1=\([0-9.]*\)% n=1000$/\1/p')
want=$(cat "$T/n_want.txt")
awk -v g="${got:-0}" -v w="$want" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= 1.5) }'
ok $? "noisy classes: $got% within 1.5 points of numpy's softmax regression ($want%)"
is "$(mae-probe -q -e 20 -s 3 -t "$T/n_train.mae" < "$T/n_test.mae")" "$out" "the same seed gives the same result"
mae-probe -e 3 -s 4 -v -t "$T/n_train.mae" -i "$T/n_test.mae" -o "$T/p.txt" 2> "$T/v.txt"
ok $? "-v and -o file"
like "$(cat "$T/p.txt")" "^top1=[0-9.]+% n=1000$" "  the result in the file"
is "$(grep -c 'epoch [0-9]*: loss' "$T/v.txt")" 3 "  one loss line per epoch on stderr"

err=$(mae-probe -q -t "$T/n_train.mae" -i "$T/d8.mae" 2>&1); rc=$?
is $rc 2 "feature size mismatch: exit 2"
like "$err" "train samples have 16 values, test samples 8" "  and says so"
err=$(mae-probe -q -f latent -t "$T/n_train.mae" -i "$T/n_test.mae" 2>&1); rc=$?
is $rc 2 "missing tensor: exit 2"
like "$err" "no tensor 'latent'" "  and names it"
mae-probe -q -i "$T/n_test.mae" >/dev/null 2>&1; is $? 1 "no -t: usage error"
mae-probe -q -e 0 -t "$T/n_train.mae" -i "$T/n_test.mae" >/dev/null 2>&1; is $? 1 "-e 0: usage error"
finish
