#!/bin/sh
# mae-knn answering several tensors (-f a,b,c) and variants (-V none,z,w) from one read of
# each stream: every line equals, value for value, the run of that tensor alone with that
# variant's options, whatever the order asked; bad -V lists are usage errors; and
# eval-knn.sh, now one mae-knn, prints the lines of one run per tensor and variant.
. "$(dirname "$0")/lib.sh"
$PY -c 'import numpy, msgpack' 2>/dev/null || skip_all "python3 numpy/msgpack missing"

# three tensors a record, each a different view of the same samples: a F32 [B,24] with a few
# dimensions of large scale and offset (so that -z and whitening change the answers), b F64
# [B,3,8] noisier, c U8 [B,4,4] quantized
$PY - "$T" <<'PY'
import sys, msgpack, numpy as np
d = sys.argv[1]
def write(path, seed, n, batch=64):
    r = np.random.RandomState(seed)
    centres = np.random.RandomState(99).randn(6, 24)
    y = r.randint(0, 6, n)
    a = centres[y] + 1.2 * r.randn(n, 24)
    a[:, :3] *= 40; a[:, 3:6] += 25
    b = (centres[y] + 2.0 * r.randn(n, 24)).reshape(n, 3, 8)
    c = np.clip(np.round(centres[y][:, :16] * 30 + 128 + 20 * r.randn(n, 16)), 0, 255).reshape(n, 4, 4)
    flip = r.rand(n) < 0.1
    y[flip] = r.randint(0, 6, flip.sum())
    p = msgpack.Packer(use_bin_type=True)
    with open(path, 'wb') as f:
        f.write(p.pack({'type': 'header', 'version': 1, 'producer': 'py', 'argv': [], 'seed': 0,
                        'count': -1, 'meta': {}, 'stages': []}))
        nb = 0
        for i in range(0, n, batch):
            t = {}
            for name, x, dt, np_dt in (('a', a, 'F32', '<f4'), ('b', b, 'F64', '<f8'), ('c', c, 'U8', 'u1'),
                                       ('label', y, 'I32', '<i4')):
                v = x[i:i + batch].astype(np_dt)
                t[name] = {'dtype': dt, 'shape': list(v.shape), 'data': v.tobytes()}
            f.write(p.pack({'type': 'batch', 'seq': nb, 'tensors': t}))
            nb += 1
        f.write(p.pack({'type': 'eos', 'count': nb, 'skipped': 0}))
write(d + '/train.mae', 1, 2500)
write(d + '/test.mae', 2, 600)
PY
ok $? "Python writes train and test streams of three tensors"

# one run per tensor and variant, labelled as -V labels them: SINGLE [MAE-KNN OPTIONS]
single() {
	for t in a b c; do
		for v in none z w; do
			case $v in none) o= ;; z) o=-z ;; w) o="-z --pca 8" ;; esac
			# shellcheck disable=SC2086
			mae-knn -q "$@" $o -f $t -k 1,20 -t "$T/train.mae" -i "$T/test.mae" | sed "s/^/$t${o:+-$v} /"
		done
	done
}
want=$(single)
got=$(mae-knn -q -f a,b,c -V none,z,w --pca 8 -k 1,20 -t "$T/train.mae" -i "$T/test.mae")
ok $? "mae-knn -f a,b,c -V none,z,w --pca 8 runs"
is "$got" "$want" "every line equals the run of its tensor and variant alone (18 lines)"
echo "$got" | sed -n '1,6p' | sed 's/^/# /'
is "$(echo "$got" | cut -d' ' -f2 | sort | uniq -c | awk '{ print $1 }' | sort -u | tr '\n' ' ')" "9 " \
	"  k=1 and k=20 on 9 lines each, from real values"
[ "$(echo "$got" | sed -n 's/^a k=20 //p')" != "$(echo "$got" | sed -n 's/^a-w k=20 //p')" ] &&
	[ "$(echo "$got" | sed -n 's/^a k=20 //p')" != "$(echo "$got" | sed -n 's/^a-z k=20 //p')" ]
ok $? "  and standardizing and whitening change the answers on these features"
is "$(mae-knn -q --plain -f a,b,c -V none,z,w --pca 8 -k 1,20 -t "$T/train.mae" -i "$T/test.mae")" \
	"$(single --plain)" "--plain: every line equals the run of its tensor and variant alone"
# the order of -V is the order of the lines; without none the standardized sets are not copied
is "$(mae-knn -q -f c,a -V w,none --pca 8 -t "$T/train.mae" -i "$T/test.mae")" \
	"$(for l in c-w c a-w a; do echo "$want" | grep "^$l k=20"; done)" \
	"-f c,a -V w,none: in the order asked, the same values"
is "$(mae-knn -q -f a -V z,w --pca 8 -t "$T/train.mae" -i "$T/test.mae")" \
	"$(echo "$want" | grep -E '^a-[zw] k=20')" "-V z,w (standardized in place): the same values"
is "$(mae-knn -q -f b -V none -k 1,20 -t "$T/train.mae" -i "$T/test.mae")" \
	"$(echo "$want" | grep -E '^b k=')" "-V none: one tensor, lines labelled"
is "$(mae-knn -q -f b,c -k 20 -t "$T/train.mae" -i "$T/test.mae")" \
	"$(echo "$want" | grep -E '^[bc] k=20')" "-f b,c without -V: each tensor as it is, labelled"

for bad in "-V none,x" "-V z,z" "-V w" "-z -V none,z" "--pca 8 -V none,z" "-V ,"; do
	# shellcheck disable=SC2086
	err=$(mae-knn -q $bad -f a -t "$T/train.mae" -i "$T/test.mae" 2>&1); rc=$?
	is $rc 1 "$bad: usage error${err:+ ($(echo "$err" | head -1))}"
done
err=$(mae-knn -q -f a,nope -V none,z -t "$T/train.mae" -i "$T/test.mae" 2>&1); rc=$?
is $rc 2 "-f a,nope: a missing tensor is bad data"
like "$err" "train: record 1: no tensor 'nope'" "  and is named"

# eval-knn.sh: one mae-knn from one read of each file; its lines are those of one run per
# tensor and variant on the same features (what it printed before)
FM=/usr/share/datasets/fashion-mnist
if [ -r $FM/t10k-images-idx3-ubyte.gz ]; then
	P=$TDIR/../pipelines
	timeout 300 sh "$P/pretrain.sh" -o "$T/run" --model micro-28 --epochs 1 --batch 64 \
		--decode "--shuffle -n 256" > /dev/null 2> "$T/train.err"
	ok $? "a checkpoint of a few steps"
	ck=$T/run/checkpoint.safetensors
	timeout 300 sh "$P/eval-knn.sh" -w "$ck" -o "$T/eval" --tokens -z --whiten 16 -k 5,20 --decode "-n 1000" \
		> "$T/eval.out" 2> "$T/eval.err"
	ok $? "eval-knn.sh --tokens -z --whiten 16 runs"
	is "$(cut -d' ' -f1,2 "$T/eval.out" | tr '\n' ' ')" "features k=5 features k=20 features-z k=5 features-z k=20 \
features-w k=5 features-w k=20 tokens k=5 tokens k=20 tokens-z k=5 tokens-z k=20 tokens-w k=5 tokens-w k=20 \
raw-pixels k=5 raw-pixels k=20 raw-pixels-z k=5 raw-pixels-z k=20 raw-pixels-w k=5 raw-pixels-w k=20 " \
		"  the lines it always printed, in their order"
	is "$(cat "$T/eval/knn.txt")" "$(cat "$T/eval.out")" "  and the same in DIR/knn.txt"
	is "$(grep -c 'train and 1000 test samples' "$T/eval.err")" 3 "  from one mae-knn: three tensors"
	patch=$(head -c 65536 "$ck" | tr ',' '\n' | sed -n 's/^"patch":"\([0-9]*\)"$/\1/p' | head -1)
	for s in train test; do
		mae-decode -q -b 500 -n 1000 fashion-mnist:$s | mae-patchify -q -p "$patch" | mae-encode -q -w "$ck" -F mean \
			> "$T/$s-feat.mae"
	done
	want=$(for tv in feature:features latent:tokens patches:raw-pixels; do
		for o in "" -z "-z --pca 16"; do
			case $o in "") l= ;; -z) l=-z ;; *) l=-w ;; esac
			# shellcheck disable=SC2086
			mae-knn -q $o -f "${tv%%:*}" -k 5,20 -t "$T/train-feat.mae" -i "$T/test-feat.mae" | sed "s/^/${tv#*:}$l /"
		done
	done)
	is "$(cat "$T/eval.out")" "$want" "  each line the value of one mae-knn run per tensor and variant"
	echo "$want" | sed 's/^/# /'
else
	echo "# skipping eval-knn.sh: dataset-fashion-mnist is not installed"
fi
finish
