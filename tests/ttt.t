#!/bin/sh
# TTT-MAE and its shifted test set: mae-decode --corrupt against numpy written from
# ImageNet-C's definitions (contrast and blur exactly, noise by its statistics and its
# independence from threads); mae-probe --save and mae-ttt --steps 0 agree with mae-probe's
# own accuracy; each image starts from the pretrained weights (an image's prediction is the
# same alone or after others); test-time training changes predictions, also of a model that
# predicts HOG (mae-hog's target); pipelines/ttt.sh writes its table; bad inputs are refused.
. "$(dirname "$0")/lib.sh"
export OPENBLAS_NUM_THREADS=1 MAE_THREADS=1
P=$TDIR/../pipelines

# ---- corruptions ----
mae-decode -q -n 64 -b 64 fashion-mnist:test > "$T/clean.mae"
for k in contrast:3 blur:3 blur:5 noise:1; do
	mae-decode -q -n 64 -b 64 --corrupt $k fashion-mnist:test > "$T/$k.mae" || echo "decode $k failed"
done
mae-decode -q -n 64 -b 16 -j 2 --corrupt noise:1 fashion-mnist:test > "$T/noise-j2.mae"
$PY - "$T" > "$T/corrupt.out" 2>&1 <<'PY'
import sys, numpy as np
from maestream import cat
d = sys.argv[1]
x = cat(d + '/clean.mae', 'image').astype(np.float64) / 255   # [64,28,28,1]
def u8(v):
    return np.floor(np.clip(v, 0, 1) * 255 + 0.5)
def contrast(img, c):
    m = img.mean()
    return u8((img - m) * c + m)
def blur(img, sigma):
    rad = int(4 * sigma + 0.5)
    t = np.arange(-rad, rad + 1)
    k = np.exp(-0.5 * t * t / sigma ** 2); k /= k.sum()
    def along(a, axis):
        n = a.shape[axis]
        i = np.arange(n)[:, None] + t[None, :]
        while (i < 0).any() or (i >= n).any():   # mirrored: d c b a | a b c d
            i = np.where(i < 0, -i - 1, i); i = np.where(i >= n, 2 * n - i - 1, i)
        a = np.moveaxis(a, axis, 0)
        out = np.einsum('ij...,j->i...', a[i], k)
        return np.moveaxis(out, 0, axis)
    return u8(along(along(img, 1), 0))
def check(name, want):
    got = cat(d + '/' + name + '.mae', 'image').astype(np.float64)
    diff = np.abs(got - want)
    print(name, 'max', int(diff.max()), 'exact', round(float((diff == 0).mean()), 4))
check('contrast:3', np.stack([contrast(im, 0.2) for im in x]))
check('blur:3', np.stack([blur(im, 3 * 28 / 224) for im in x]))
check('blur:5', np.stack([blur(im, 6 * 28 / 224) for im in x]))
n = cat(d + '/noise:1.mae', 'image').astype(np.float64) / 255
mid = (x > 0.35) & (x < 0.65)            # far from the clipping at 0 and 1 (4 standard deviations)
e = (n - x)[mid]
print('noise mean %.3f std %.3f (%d pixels)' % (abs(e.mean()) < 0.005, abs(e.std() / 0.08 - 1) < 0.05, mid.sum() > 1000))
print('noise threads', np.array_equal(cat(d + '/noise:1.mae', 'image'), cat(d + '/noise-j2.mae', 'image')))
PY
like "$(cat "$T/corrupt.out")" "contrast:3 max 0 exact 1.0" "--corrupt contrast:3: numpy's (x - m) * 0.2 + m, every pixel"
like "$(cat "$T/corrupt.out")" "blur:3 max [01] exact (1.0|0.99)" "--corrupt blur:3: numpy's mirrored Gaussian (sigma 3 x 28/224)"
like "$(cat "$T/corrupt.out")" "blur:5 max [01] exact (1.0|0.99)" "--corrupt blur:5: sigma 6 x 28/224"
like "$(cat "$T/corrupt.out")" "noise mean 1.000 std 1.000 \(1 pixels\)" "--corrupt noise:1: zero mean, standard deviation 0.08 within 5%"
like "$(cat "$T/corrupt.out")" "noise threads True" "  the same bytes with 2 decode threads and other batches"
mae-decode -q -n 4 --corrupt fog:3 fashion-mnist:test > /dev/null 2> "$T/fog.err"
is "$?" 1 "--corrupt fog:3: status 1"
like "$(cat "$T/fog.err")" "noise, blur or contrast, ':', a severity 1 to 5" "  and it says what it takes"

# ---- a model, its probe, test-time training ----
mae-decode -q -n 512 -b 64 -s 1 fashion-mnist:train | mae-patchify -q -p 7 | mae-mask -q -s 1 random |
	mae-train -q -s 1 -m micro-28 --steps 8 --lr 1e-3 -d "$T/m" > /dev/null
ok $? "a micro-28 model (8 steps)"
C=$T/m/checkpoint.safetensors
mae-decode -q -n 1000 -b 500 fashion-mnist:train | mae-patchify -q -p 7 | mae-encode -q -w "$C" -F mean --no-latent > "$T/tr.mae"
mae-decode -q -n 60 -b 20 --corrupt noise:3 fashion-mnist:test | mae-patchify -q -p 7 > "$T/te.mae"
mae-encode -q -w "$C" -F mean --no-latent < "$T/te.mae" > "$T/te-f.mae"
mae-probe -q -e 10 -t "$T/tr.mae" -i "$T/te-f.mae" --save "$T/probe.safetensors" > "$T/probe.out"
ok $? "mae-probe --save"
acc=$(sed 's/top1=\([0-9.]*\)%.*/\1/' "$T/probe.out")
is "$(mae-ttt -q -w "$C" --head "$T/probe.safetensors" --steps 0 < "$T/te.mae")" "before top1=$acc% after top1=$acc% n=60" \
	"mae-ttt --steps 0: the saved probe predicts as mae-probe did ($acc%), before and after"
mae-ttt -q -w "$C" --head "$T/probe.safetensors" --steps 3 --copies 8 --lr 0.05 --predictions "$T/all.txt" < "$T/te.mae" > "$T/all.out"
ok $? "mae-ttt: 3 steps of 8 copies on each of 60 images"
mae-decode -q -n 60 -b 20 --start-batch 2 --corrupt noise:3 fashion-mnist:test | mae-patchify -q -p 7 |
	mae-ttt -q -w "$C" --head "$T/probe.safetensors" --steps 3 --copies 8 --lr 0.05 --predictions "$T/last.txt" > /dev/null
is "$(cat "$T/last.txt")" "$(tail -20 "$T/all.txt")" "each image starts from the pretrained weights: the last 20 alone predict as after the others"
changed=$(awk '$3 != $4' "$T/all.txt" | wc -l)
[ "$changed" -gt 0 ]; ok $? "test-time training changes predictions ($changed of 60)"
like "$(cat "$T/all.out")" "^before top1=$acc% after top1=[0-9.]+% n=60$" "  and reports both accuracies"

# a model that predicts HOG (target_dim, the main job's hogmae): each masked copy's loss target
# is the image's own HOG, from mae-hog before mae-ttt as in pretraining; without it, refused
H=$(mae-hog --dim -p 7 --channels 1)
mae-decode -q -n 512 -b 64 -s 1 fashion-mnist:train | mae-patchify -q -p 7 | mae-hog -q | mae-mask -q -s 1 random |
	mae-train -q -s 1 -m "micro-28,loss=mse,target_dim=$H" --steps 8 --lr 1e-3 -d "$T/h" > /dev/null
ok $? "a micro-28 model predicting HOG ($H values a patch)"
mae-ttt -q -w "$T/h/checkpoint.safetensors" --head "$T/probe.safetensors" --steps 3 --copies 8 --lr 0.05 \
	--predictions "$T/hog.txt" < "$T/te.mae" > /dev/null 2> "$T/nohog.err"
is "$?" 2 "mae-ttt on a HOG model without the images' HOG: status 2"
like "$(cat "$T/nohog.err")" "target_dim $H: the loss needs a 'target' tensor \\[B,16,$H\\] \\(mae-hog\\)" "  and it names the tensor and mae-hog"
mae-hog -q < "$T/te.mae" | mae-ttt -q -w "$T/h/checkpoint.safetensors" --head "$T/probe.safetensors" --steps 3 \
	--copies 8 --lr 0.05 --predictions "$T/hog.txt" > "$T/hog.out"
ok $? "with mae-hog before it, test-time training runs on the HOG loss"
changed=$(awk '$3 != $4' "$T/hog.txt" | wc -l)
[ "$changed" -gt 0 ]; ok $? "  and changes predictions ($changed of 60)"
mae-hog -q < "$T/te.mae" | mae-ttt -q -w "$T/h/checkpoint.safetensors" --head "$T/probe.safetensors" --steps 0 > "$T/hog0.out"
like "$(cat "$T/hog0.out")" "^before top1=([0-9.]+)% after top1=\\1% n=60$" "  --steps 0: the same predictions before and after"

# ---- refusals ----
mae-decode -q -n 200 -b 100 fashion-mnist:train > "$T/img.mae"
mae-probe -q -e 2 -f image -t "$T/img.mae" -i "$T/img.mae" --save "$T/wide.safetensors" > /dev/null
mae-ttt -q -w "$C" --head "$T/wide.safetensors" < "$T/te.mae" > /dev/null 2> "$T/wide.err"
is "$?" 2 "a probe of another width: status 2"
like "$(cat "$T/wide.err")" "the probe reads 784 features, the encoder gives 32" "  and it says both"
mae-ttt -q -w "$C" --head "$C" < "$T/te.mae" > /dev/null 2> "$T/nothead.err"
is "$?" 2 "a checkpoint given as the probe: status 2"
like "$(cat "$T/nothead.err")" "not a probe" "  and it says so"

# ---- the pipeline ----
timeout 300 sh "$P/ttt.sh" -w "$C" -o "$T/ttt" -n 40 --steps 2 --copies 4 --probe-epochs 3 --train "-n 1000" \
	2> "$T/ttt.err" > "$T/ttt.out"
ok $? "pipelines/ttt.sh runs"
is "$(cut -f1 "$T/ttt/ttt.tsv" | paste -sd' ' -)" "corruption clean noise blur contrast" "  its table: clean and three corruptions"
$PY -c "import sys; r=[l.split('\t') for l in open(sys.argv[1])][1:]; sys.exit(0 if len(r) == 4 and all(0 <= float(x) <= 100 for l in r for x in l[1:]) else 1)" "$T/ttt/ttt.tsv"
ok $? "  each with accuracies before and after"
timeout 300 sh "$P/ttt.sh" -w "$T/h/checkpoint.safetensors" -o "$T/ttth" -n 20 --steps 1 --copies 4 --probe-epochs 2 \
	--train "-n 500" 2> "$T/ttth.err" > "$T/ttth.out"
ok $? "pipelines/ttt.sh on the HOG model (mae-hog in its pipeline)"
is "$(tail -n +2 "$T/ttth/ttt.tsv" | wc -l)" 4 "  its four rows"
finish
