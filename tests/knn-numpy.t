#!/bin/sh
# mae-knn against numpy: feature streams written by Python (msgpack + numpy, per mae-stream(5)),
# weighted (DINO) and plain k-NN accuracies equal a numpy implementation of the same rules;
# -f with other dtypes and shapes; clear errors for bad input.
. "$(dirname "$0")/lib.sh"
$PY -c 'import numpy, msgpack' 2>/dev/null || skip_all "python3 numpy/msgpack missing"

# writer and reference, shared by the checks
cat > "$T/knn.py" <<'PY'
import sys, msgpack, numpy as np
DT = {'F32': '<f4', 'F64': '<f8', 'U8': 'u1', 'I16': '<i2', 'I32': '<i4'}
def write(path, feats, labels, name='feature', dtype='F32', batch=100, shape=None, label_dtype='I32'):
    p = msgpack.Packer(use_bin_type=True)
    with open(path, 'wb') as f:
        f.write(p.pack({'type': 'header', 'version': 1, 'producer': 'knn.py', 'argv': [], 'seed': 0,
                        'count': -1, 'meta': {}, 'stages': []}))
        nb = 0
        for i in range(0, len(labels), batch):
            x = feats[i:i + batch].astype(DT[dtype])
            if shape: x = x.reshape((len(x),) + tuple(shape))
            y = labels[i:i + batch].astype(DT[label_dtype])
            f.write(p.pack({'type': 'batch', 'seq': nb, 'tensors': {
                name: {'dtype': dtype, 'shape': list(x.shape), 'data': x.tobytes()},
                'label': {'dtype': label_dtype, 'shape': [len(y)], 'data': y.tobytes()}}}))
            nb += 1
        f.write(p.pack({'type': 'eos', 'count': nb, 'skipped': 0}))
def knn(tr, ytr, te, yte, ks, T=0.07, plain=False):
    tr = tr.astype(np.float64); te = te.astype(np.float64)
    C = int(max(ytr.max(), yte.max())) + 1
    if plain:
        s = -(np.sum(te**2, 1)[:, None] - 2 * te @ tr.T + np.sum(tr**2, 1)[None, :])
    else:
        tr = tr / np.linalg.norm(tr, axis=1, keepdims=True)
        te = te / np.linalg.norm(te, axis=1, keepdims=True)
        s = te @ tr.T
    order = np.argsort(-s, axis=1, kind='stable')
    out = []
    for k in ks:
        nb = order[:, :k]
        w = np.ones(nb.shape) if plain else np.exp(np.take_along_axis(s, nb, 1) / T)
        score = np.zeros((len(te), C))
        for j in range(k):
            score[np.arange(len(te)), ytr[nb[:, j]]] += w[:, j]
        pred = score.argmax(1)
        out.append('k=%d top1=%.2f%% n=%d' % (k, 100.0 * (pred == yte).mean(), len(te)))
    return '\n'.join(out)
def data(seed, n, d=32, c=6, noise=1.1):
    r = np.random.RandomState(seed)
    centres = np.random.RandomState(99).randn(c, d) * 1.0
    y = r.randint(0, c, n)
    x = centres[y] + noise * r.randn(n, d) + 0.5
    flip = r.rand(n) < 0.1
    y[flip] = r.randint(0, c, flip.sum())
    return x.astype(np.float32), y.astype(np.int32)
PY

$PY - "$T" <<'PY'
import sys; sys.path.insert(0, sys.argv[1]); from knn import *
d = sys.argv[1]
tr, ytr = data(1, 3000); te, yte = data(2, 700)
write(d + '/train.mae', tr, ytr, batch=128)
write(d + '/test.mae', te, yte, batch=100)
open(d + '/want_w.txt', 'w').write(knn(tr, ytr, te, yte, [1, 10, 20, 100, 200]) + '\n')
open(d + '/want_w05.txt', 'w').write(knn(tr, ytr, te, yte, [20], T=0.5) + '\n')
open(d + '/want_p.txt', 'w').write(knn(tr, ytr, te, yte, [1, 5, 20], plain=True) + '\n')
# the same features as F64 [B,4,8], and as U8 pixels [B,4,4,2] for the plain baseline
write(d + '/train64.mae', tr, ytr, name='emb', dtype='F64', shape=(4, 8))
write(d + '/test64.mae', te, yte, name='emb', dtype='F64', shape=(4, 8))
q = lambda x: np.clip(np.round(x * 30 + 128), 0, 255)
write(d + '/trainu8.mae', q(tr), ytr, name='image', dtype='U8', shape=(4, 4, 2))
write(d + '/testu8.mae', q(te), yte, name='image', dtype='U8', shape=(4, 4, 2))
open(d + '/want_u8.txt', 'w').write(knn(q(tr), ytr, q(te), yte, [1, 5], plain=True) + '\n')
# -z: a few dimensions of large scale and offset drown the rest until each is standardized
sc = np.ones(32, np.float32); sc[:4] = 40; off = np.zeros(32, np.float32); off[4:8] = 25
trs, tes = tr * sc + off, te * sc + off
write(d + '/trains.mae', trs, ytr); write(d + '/tests.mae', tes, yte)
mu, sd = trs.astype(np.float64).mean(0), np.sqrt(trs.astype(np.float64).var(0) + 1e-6)
open(d + '/want_s.txt', 'w').write(knn(trs, ytr, tes, yte, [1, 20]) + '\n')
open(d + '/want_z.txt', 'w').write(knn((trs - mu) / sd, ytr, (tes - mu) / sd, yte, [1, 20]) + '\n')
open(d + '/want_zp.txt', 'w').write(knn((trs - mu) / sd, ytr, (tes - mu) / sd, yte, [1, 20], plain=True) + '\n')
# --pca 8 after -z: the first 8 principal components of the standardized train set, whitened
zs, zt = (trs - mu) / sd, (tes - mu) / sd
m0 = zs.mean(0); lam, vec = np.linalg.eigh(np.cov((zs - m0).T, bias=True))
w = vec[:, ::-1][:, :8] / np.sqrt(lam[::-1][:8] + 1e-6 * lam[-1])
open(d + '/want_pca.txt', 'w').write(knn((zs - m0) @ w, ytr, (zt - m0) @ w, yte, [1, 20]) + '\n')
# bad inputs
write(d + '/d16.mae', tr[:, :16], ytr)
ybad = yte.copy(); ybad[5] = -1
write(d + '/neg.mae', te, ybad)
write(d + '/nolab.mae', te, yte, label_dtype='I16')
PY
ok $? "Python writes train and test feature streams"

mae-knn -q -k 1,10,20,100,200 -t "$T/train.mae" -i "$T/test.mae" > "$T/got_w.txt"
ok $? "mae-knn weighted runs"
is "$(cat "$T/got_w.txt")" "$(cat "$T/want_w.txt")" "weighted k-NN accuracies equal numpy's (k=1,10,20,100,200)"
is "$(mae-knn -q -T 0.5 -t "$T/train.mae" < "$T/test.mae")" "$(cat "$T/want_w05.txt")" "-T 0.5, default k=20, test on stdin"
mae-knn -q --plain -k 1,5,20 -t "$T/train.mae" -i "$T/test.mae" -o "$T/got_p.txt"
ok $? "mae-knn --plain -o file"
is "$(cat "$T/got_p.txt")" "$(cat "$T/want_p.txt")" "plain L2 majority k-NN accuracies equal numpy's"
is "$(mae-knn -q -f emb -k 1,10,20,100,200 -t "$T/train64.mae" -i "$T/test64.mae")" "$(cat "$T/want_w.txt")" \
	"-f emb: F64 [B,4,8] features flattened give the same answers"
is "$(mae-knn -q --plain -f image -k 1,5 -t "$T/trainu8.mae" -i "$T/testu8.mae")" "$(cat "$T/want_u8.txt")" \
	"-f image: U8 [B,H,W,C] pixels, plain k-NN equals numpy"
got_s=$(mae-knn -q -k 1,20 -t "$T/trains.mae" -i "$T/tests.mae")
is "$got_s" "$(cat "$T/want_s.txt")" "scaled features without -z equal numpy's"
got_z=$(mae-knn -q -z -k 1,20 -t "$T/trains.mae" -i "$T/tests.mae")
is "$got_z" "$(cat "$T/want_z.txt")" "-z: standardized by the train set's statistics, equal numpy's"
[ "$got_z" != "$got_s" ]; ok $? "  and -z changes the answers on these features"
is "$(mae-knn -q -z --plain -k 1,20 -t "$T/trains.mae" -i "$T/tests.mae")" "$(cat "$T/want_zp.txt")" \
	"-z --plain: standardized, then Euclidean, equal numpy's"
got_pca=$(mae-knn -q -z --pca 8 -k 1,20 -t "$T/trains.mae" -i "$T/tests.mae")
is "$got_pca" "$(cat "$T/want_pca.txt")" "-z --pca 8: whitened on the first 8 components, equal numpy's"
[ "$got_pca" != "$got_z" ]; ok $? "  and --pca changes the answers"
err=$(mae-knn -q --pca 33 -t "$T/trains.mae" -i "$T/tests.mae" 2>&1); rc=$?
is $rc 1 "--pca above the feature count: usage error"
like "$err" "--pca 33: the features have only 32 values" "  and says how many there are"
# the train stream from a ZeroMQ endpoint, the test stream from a pipe
mae-tap -q -i "$T/train.mae" -o "@ipc://$T/train.sock" /dev/null &
is "$(cat "$T/test.mae" | mae-knn -q -k 1,10,20,100,200 -t ">ipc://$T/train.sock")" "$(cat "$T/want_w.txt")" \
	"-t from an ipc:// endpoint, test from a pipe: the same answers"
wait
cat "$T/test.mae" "$T/test.mae" > "$T/test2.mae"
like "$(mae-knn -q --merge 2 -t "$T/train.mae" -i "$T/test2.mae")" "^k=20 top1=[0-9.]+% n=1400$" "--merge 2 on the test input"

# errors
err=$(mae-knn -q -f nope -t "$T/train.mae" -i "$T/test.mae" 2>&1); rc=$?
is $rc 2 "missing feature tensor: exit 2"
like "$err" "train: record 1: no tensor 'nope'" "  and says which stream, record and tensor"
err=$(mae-knn -q -t "$T/train.mae" -i "$T/d16.mae" 2>&1); rc=$?
is $rc 2 "mismatched feature sizes: exit 2"
like "$err" "train samples have 32 values, test samples 16" "  and says so"
err=$(mae-knn -q -t "$T/train.mae" -i "$T/neg.mae" 2>&1); rc=$?
is $rc 2 "label -1: exit 2"
like "$err" "test: record 1: label -1 of sample 5 is out of range" "  and names the sample"
err=$(mae-knn -q -t "$T/train.mae" -i "$T/nolab.mae" 2>&1); rc=$?
is $rc 2 "label of the wrong dtype: exit 2"
like "$err" "tensor 'label': expected I32 \[B\], got I16" "  and says what was expected"
mae-knn -q -i "$T/test.mae" >/dev/null 2>&1; is $? 1 "no -t: usage error"
mae-knn -q -k 0 -t "$T/train.mae" -i "$T/test.mae" >/dev/null 2>&1; is $? 1 "-k 0: usage error"
err=$(mae-knn -q -k 5000 -t "$T/train.mae" -i "$T/test.mae" 2>&1); rc=$?
is $rc 1 "k above the train size: usage error"
like "$err" "only 3000 samples" "  and says how many there are"
head -c 50000 "$T/test.mae" > "$T/cut.mae"
err=$(mae-knn -q -t "$T/train.mae" -i "$T/cut.mae" 2>&1); rc=$?
is $rc 2 "a truncated test stream: exit 2"
like "$err" "cut short" "  and says it was cut short"
finish
