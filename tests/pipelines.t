#!/bin/sh
# The pipeline scripts: every method of pretrain.sh (a file of pipelines/methods/) is one flag
# away and trains (a minute model on a few hundred Fashion-MNIST images), a new method is one
# new file, eval-knn.sh evaluates a checkpoint against raw pixels (holdout.sh on a held-out part
# of the train split, digits.sh on scikit-learn's and OpenCV's digits), and a dead stage stops the run with
# status 2 instead of hanging.
. "$(dirname "$0")/lib.sh"
P=$TDIR/../pipelines
is "$(ls "$P/methods" | paste -sd' ' -)" "attmask bootmae cmae colormae hogmae lomar mae maskfeat mfm semmae simmim supmae videomae" "the methods, one file each"
# the image methods here; videomae, the clip method, trains in video.t
image_methods=$(grep -L '^frames=' "$P"/methods/* | sed 's|.*/||')
is "$(echo $image_methods)" "attmask bootmae cmae colormae hogmae lomar mae maskfeat mfm semmae simmim supmae" "the image methods"
for m in $image_methods; do
	warm=1
	[ $m = mae ] && warm=0.5
	timeout 300 sh "$P/pretrain.sh" -o "$T/$m" --method $m --model micro-28 --epochs 2 --batch 64 \
		--warmup-epochs $warm --decode "--shuffle -n 512" 2> "$T/$m.err"
	ok $? "pretrain.sh --method $m runs"
	is "$(tail -1 "$T/$m/metrics.tsv" | cut -f1)" 16 "$m: 16 steps in the metrics"
	$PY -c "import sys, math; v=[float(l.split('\t')[2]) for l in open(sys.argv[1]).readlines()[1:]]; sys.exit(0 if all(math.isfinite(x) and x > 0 for x in v) else 1)" "$T/$m/metrics.tsv"
	ok $? "$m: every loss finite and positive"
done
# each method's masker and model mode, as its file sets them
strategies=
for m in $image_methods; do
	strategies="$strategies $m:$(sed -n 's/.*mask: \([a-z]*\).*/\1/p' "$T/$m.err"):$(sed -n 's/.*(micro-28[^)]*mode=\([a-z]*\)).*/\1/p' "$T/$m.err")"
done
is "$strategies" " attmask:attention:mae bootmae:random:mae cmae:random:mae colormae:noise:mae hogmae:random:mae lomar:window:lomar mae:random:mae maskfeat:block:simmim mfm:frequency:mfm semmae:semantic:mae simmim:block:simmim supmae:random:mae" \
	"each method runs its masker and its model mode"
like "$(cat "$T/maskfeat.err")" "maskfeat \(micro-28,loss=mse,target_dim=9,mode=simmim\), mask: block --variant beit -r 0.4 --min-area 1;" \
	"maskfeat: its model_settings (MSE, a head of mae-hog's 9 values a patch of 7) and BEiT's blocks at 40%"
like "$(cat "$T/hogmae.err")" "hogmae \(micro-28,loss=mse,target_dim=9,mode=mae\), mask: random;" \
	"hogmae: MAE's mode and random masks, with maskfeat's HOG target and MSE"
like "$(cat "$T/bootmae.err")" "bootmae \(micro-28,feat_depth=1,mode=mae\), mask: random;" \
	"bootmae: its model_settings (a feature decoder as deep as the pixel decoder)"
# a new method: one file beside the others, nothing else changed
cp -r "$P" "$T/pipelines"
cat > "$T/pipelines/methods/gridmae" <<'EOF2'
about="MAE's grid ablation: one patch of every 2x2 cell visible"
mode=mae
default_mask() { echo "grid --cell 2"; }
EOF2
timeout 300 sh "$T/pipelines/pretrain.sh" -o "$T/gridmae" --method gridmae --model micro-28 --epochs 1 --batch 64 \
	--decode "-n 256" 2> "$T/gridmae.err"
ok $? "a new method file (gridmae) trains through pretrain.sh"
like "$(cat "$T/gridmae.err")" "gridmae \(micro-28,mode=mae\), mask: grid --cell 2" "  with its masker and mode"
like "$(sh "$T/pipelines/pretrain.sh" -h)" "gridmae +MAE's grid ablation" "  and -h lists it"
sh "$P/pretrain.sh" --method nosuch > /dev/null 2> "$T/nosuch.err"
is "$?" 1 "an unknown method: status 1"
like "$(cat "$T/nosuch.err")" "unknown method 'nosuch' \(attmask, bootmae, cmae, colormae, hogmae, lomar, mae, maskfeat, mfm, semmae, simmim, supmae, videomae\)" "  and the methods there are"
# --warmup-epochs 0.5 of 8 batches: the rate climbs over 4 steps (MAE's per-iteration warm-up
# from 0 at step 1) to blr * 64 / 256 = 3.75e-5 at step 5
is "$(sed -n '4p;6p' "$T/mae/metrics.tsv" | cut -f4 | tr '\n' ' ')" "1.875e-05 3.75e-05 " \
	"--warmup-epochs 0.5: a warm-up of half an epoch"
timeout 300 sh "$P/eval-knn.sh" -w "$T/mae/checkpoint.safetensors" -o "$T/mae" --tokens --probe 3 --decode "-n 1000" 2> "$T/knn.err" > "$T/knn.out"
ok $? "eval-knn.sh runs"
like "$(cat "$T/knn.out")" "features probe top1=[0-9.]+% n=1000" "--probe: a linear probe on the features"
like "$(cat "$T/knn.out")" "raw-pixels probe top1=[0-9.]+% n=1000" "  and on raw pixels, from the same files"
like "$(cat "$T/knn.out")" "tokens probe top1=[0-9.]+% n=1000" "  and with --tokens on the whole output"
like "$(cat "$T/knn.out")" "^features k=20 top1=[0-9.]+% n=1000" "it reports the features' accuracy"
like "$(cat "$T/knn.out")" "raw-pixels k=20 top1=[0-9.]+% n=1000" "and raw pixels' in the same run"
like "$(cat "$T/knn.out")" "tokens k=20 top1=[0-9.]+% n=1000" "--tokens: and the whole output's"
like "$(cat "$T/knn.err")" "1000 train and 1000 test samples of 544 features" "--tokens: k-NN on the whole output, (1 + 16) x 32 numbers"
timeout 300 sh "$P/eval-knn.sh" -w "$T/mae/checkpoint.safetensors" -o "$T/cls" -p cls --no-raw -z --whiten 16 \
	--decode "-n 1000" 2> "$T/cls.err" > "$T/cls.out"
ok $? "eval-knn.sh -p cls -z --whiten 16 runs"
like "$(cat "$T/cls.out")" "^features k=20 top1=[0-9.]+% n=1000" "-p cls: reports the accuracy"
is "$(cut -d' ' -f1 "$T/cls/knn.txt" | tr '\n' ' ')" "features features-z features-w " \
	"-z, --whiten: and standardized, and whitened, in knn.txt; --no-raw: no raw pixels"
like "$(cat "$T/cls.err")" "PCA: the first 16 of 32 components, whitened" "--whiten 16: on 16 of the 32 components"
like "$(cat "$T/cls.err")" "1000 train and 1000 test samples of 32 features" "-p cls: k-NN on the 32-d cls token"
sh "$P/eval-knn.sh" -w "$T/mae/checkpoint.safetensors" -p max > /dev/null 2> "$T/p.err"
is $? 1 "-p with an unknown feature: usage error"
is "$(sed -n 's/^pretrain.sh: mae (\(.*\)), mask: \(.*\);.*/\1 \2/p' "$T/mae.err")" \
	"$(sed -n 's/^model	//p' "$T/mae/recipe.tsv") $(sed -n 's/^mask	//p' "$T/mae/recipe.tsv")" \
	"pretrain.sh writes the model and mask it resolved in OUT/recipe.tsv"
# --train-decode, --test-decode: one source split in two (holdout.sh's held-out part of the train split)
timeout 300 sh "$P/eval-knn.sh" -w "$T/mae/checkpoint.safetensors" -o "$T/split" --no-raw --train fashion-mnist:train \
	--test fashion-mnist:train --train-decode "-n 1500" --test-decode "--start-batch 3 -n 2000" > /dev/null 2> "$T/split.err"
ok $? "eval-knn.sh --train-decode, --test-decode"
like "$(cat "$T/split.err")" "1500 train and 500 test samples of 32 features" "  each side decoded with its own options"
# holdout.sh: the first 50000 train images against the last 10000
timeout 300 sh "$P/holdout.sh" -w "$T/mae/checkpoint.safetensors" -o "$T/ho" --no-raw --probe 2 > "$T/ho.out" 2> "$T/ho.err"
ok $? "holdout.sh runs"
like "$(cat "$T/ho.err")" "50000 train and 10000 test samples of 32 features" "  on train images 0-49999 against 50000-59999"
like "$(cat "$T/ho/knn.txt")" "features probe top1=[0-9.]+% n=10000" "  and passes eval-knn.sh's options"
# digits.sh: scikit-learn's digits as 28x28 IDX files, 1000 train and 797 test, the same evaluation
timeout 300 sh "$P/digits.sh" -w "$T/mae/checkpoint.safetensors" -o "$T/dg" --tokens --whiten 16 --probe 3 > "$T/dg.out" 2> "$T/dg.err"
ok $? "digits.sh runs"
is "$(wc -c < "$T/dg/data/digits-train-images-idx3-ubyte") $(wc -c < "$T/dg/data/digits-test-labels-idx1-ubyte")" \
	"784016 805" "  1000 train images of 28x28 and 797 test labels (IDX)"
like "$(cat "$T/dg.err")" "1000 train and 797 test samples of 544 features" "  k-NN of the whole output on them"
like "$(cat "$T/dg/knn.txt")" "tokens-w k=20 top1=[0-9.]+% n=797" "  whitened"
like "$(cat "$T/dg/knn.txt")" "raw-pixels probe top1=[0-9.]+% n=797" "  and the probes, raw pixels' too"
$PY "$P/digits.py" -o "$T/dg2" 2> /dev/null && cmp -s "$T/dg/data/digits-train-images-idx3-ubyte" "$T/dg2/digits-train-images-idx3-ubyte"
ok $? "  digits.py is deterministic"
is "$($PY -c "import sys; d=open(sys.argv[1],'rb').read()[8:]; print(' '.join(str(d.count(bytes([k]))) for k in range(10)))" "$T/dg/data/digits-train-labels-idx1-ubyte")" \
	"99 102 100 104 98 100 101 99 98 99" "  the train labels: about 100 of each digit"
# --set opencv: OpenCV's 5000 handwritten digits (opencv-doc's digits.png), the left half of each
# row train, the right half test, as OpenCV's k-NN tutorial splits them
timeout 300 sh "$P/digits.sh" -w "$T/mae/checkpoint.safetensors" -o "$T/hw" --set opencv --no-raw --probe 2 > "$T/hw.out" 2> "$T/hw.err"
ok $? "digits.sh --set opencv runs"
like "$(cat "$T/hw.err")" "2500 train and 2500 test samples of 32 features" "  2500 train and 2500 test digits"
like "$(cat "$T/hw/knn.txt")" "features probe top1=[0-9.]+% n=2500" "  and their k-NN and probe"
is "$($PY -c "import sys; d=open(sys.argv[1],'rb').read()[8:]; print(' '.join(str(d.count(bytes([k]))) for k in range(10)))" "$T/hw/data/digits-test-labels-idx1-ubyte")" \
	"250 250 250 250 250 250 250 250 250 250" "  250 test digits of each class"
# the digit in the middle of its 28x28 as MNIST's: the 4-pixel border is black, the cells are
# the PNG's 20x20 (cell 50 of row 0, the test set's first, is digits.png's pixels 1000-1019)
$PY - "$T/hw/data/digits-test-images-idx3-ubyte" <<'PY'
import sys
import numpy as np
from PIL import Image
x = np.frombuffer(open(sys.argv[1], 'rb').read()[16:], np.uint8).reshape(-1, 28, 28)
png = np.asarray(Image.open('/usr/share/doc/opencv-doc/examples/data/digits.png').convert('L'))
border = x.copy(); border[:, 4:24, 4:24] = 0
sys.exit(0 if border.max() == 0 and (x[0, 4:24, 4:24] == png[0:20, 1000:1020]).all()
         and (x[2499, 4:24, 4:24] == png[980:1000, 1980:2000]).all() and x.mean() > 10 else 1)
PY
ok $? "  each cell of digits.png as it is, centred in 28x28"
sh "$P/digits.sh" -w "$T/mae/checkpoint.safetensors" --set mnist > /dev/null 2> "$T/hw.bad"
is "$? $(cat "$T/hw.bad")" "1 digits.sh: --set: sklearn or opencv, not 'mnist'" "  an unknown set is refused"
like "$(sh "$P/main.sh" -h)" "--holdout" "main.sh -h: its options"
# the recipe follows the CPU: bf16 products and more epochs where AVX512_BF16 is, said, never
# silent; --fp32 and a --model of one's own keep fp32
if mae-optimize --show-config -m small-28,bf16=1 > /dev/null 2>&1; then want="small-28,bf16=1 12"; else
	want="small-28 8"; fi
recipe_of() { sh "$P/main.sh" --recipe "$@" | awk -F'\t' '$1 == "model" || $1 == "epochs" { printf "%s%s", s, $2; s = " " }'; }
is "$(recipe_of)" "$want" "main.sh --recipe: this CPU's recipe ($want)"
is "$(recipe_of --fp32)" "small-28 8" "  --fp32: fp32 products, 8 epochs"
is "$(recipe_of --model tiny-28 --epochs 3)" "tiny-28 3" "  a --model and --epochs of one's own run as given"
like "$(sh "$P/main.sh" --recipe --mask 'block -r 0.5' --method mae)" "mask	block -r 0.5" "  and a --mask"

# mae-encode --block K reads block K out through the final LayerNorm: the same latent, bit for
# bit, as the encoder cut to its first K blocks (a checkpoint without the later ones)
$PY - "$T/mae/checkpoint.safetensors" "$T/cut.safetensors" <<'PY'
import json, struct, sys
buf = open(sys.argv[1], 'rb').read()
n, = struct.unpack('<Q', buf[:8]); head = json.loads(buf[8:8 + n]); data = buf[8 + n:]
meta = head.pop('__metadata__'); meta['depth'] = '1'; del meta['crc32']   # the data changes
out, body = {'__metadata__': meta}, b''
for name, e in head.items():
    if name.startswith('blocks.') and int(name.split('.')[1]) >= 1: continue
    b, en = e['data_offsets']
    out[name] = dict(e, data_offsets=[len(body), len(body) + en - b]); body += data[b:en]
h = json.dumps(out).encode(); h += b' ' * (-len(h) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(h)) + h + body)
PY
meta() { head -c 4096 "$T/mae/checkpoint.safetensors" | tr ',' '\n' | sed -n "s/^\"$1\":\"\\([0-9]*\\)\"\$/\\1/p"; }
depth=$(meta depth)
mae-decode -q -n 100 -b 50 fashion-mnist:test | mae-patchify -q -p "$(meta patch)" > "$T/p.mae"
mae-encode -q -w "$T/mae/checkpoint.safetensors" --block 1 -F mean -i "$T/p.mae" > "$T/b1.mae" &&
	mae-encode -q -w "$T/cut.safetensors" -F mean -i "$T/p.mae" > "$T/cut.mae" &&
	mae-encode -q -w "$T/mae/checkpoint.safetensors" -i "$T/p.mae" > "$T/last.mae"
ok $? "mae-encode --block 1, and the encoder cut to one block"
$PY - "$T" <<'PY'
import sys, numpy as np, maestream as m
d = sys.argv[1]
b1, cut, last = (m.cat(d + f, 'latent') for f in ('/b1.mae', '/cut.mae', '/last.mae'))
sys.exit(0 if np.array_equal(b1, cut) and np.array_equal(m.cat(d + '/b1.mae', 'feature'), m.cat(d + '/cut.mae', 'feature'))
         and not np.allclose(b1, last) else 1)
PY
ok $? "--block 1: latent and feature equal the cut encoder's, and differ from the last block's"
mae-encode -q -w "$T/mae/checkpoint.safetensors" --block "$depth" -i "$T/p.mae" > "$T/blast.mae"
$PY -c 'import sys, numpy as np, maestream as m; sys.exit(0 if np.array_equal(m.cat(sys.argv[1], "latent"), m.cat(sys.argv[2], "latent")) else 1)' \
	"$T/blast.mae" "$T/last.mae"
ok $? "--block $depth (the last): the default latent, bit for bit"
err=$(mae-encode -q -w "$T/mae/checkpoint.safetensors" --block $((depth + 1)) -i "$T/p.mae" 2>&1 >/dev/null); rc=$?
is $rc 1 "--block past the last: usage error"
like "$err" "the encoder has blocks 1 to $depth" "  and says how many blocks there are"

# a stage that dies mid-run: the server notices and the script ends with status 2
mkdir -p "$T/bt"
TMPDIR="$T/bt" timeout 120 sh "$P/pretrain.sh" -o "$T/bad" --model micro-28 --epochs 1 --mask "window --window 9" \
	--decode "-n 256" > /dev/null 2> "$T/bad.err"
is $? 2 "a failing stage ends the run with status 2, no hang"
like "$(cat "$T/bad.err")" "mae-mask: .*window" "and the failing stage says why"
is "$(ls "$T/bt" | wc -l)" 0 "and the run leaves nothing in TMPDIR (run directory, stages' gradient sockets)"
# compare.sh: the method table, baselines first, from one run
timeout 600 sh "$P/compare.sh" -o "$T/cmp" --model micro-28 --epochs 1 --probe 2 --decode "--shuffle -n 512" \
	--eval-decode "-n 1000" mae simmim lomar 2> "$T/cmp.err" > "$T/cmp.out"
ok $? "compare.sh runs three methods"
is "$(cut -f1,2 "$T/cmp/table.tsv" | paste -sd' ' -)" "method	steps random-init	0 raw-pixels	0 mae	8 simmim	8 lomar	8" \
	"  its table: the baselines, then each method with its steps"
$PY -c "import sys; rows=[l.rstrip('\n').split('\t') for l in open(sys.argv[1])][1:-1]; sys.exit(0 if all(0 < float(r[3]) <= 100 and 0 < float(r[4]) <= 100 for r in rows) else 1)" "$T/cmp/table.tsv"
ok $? "  every k-NN and probe accuracy a percentage"
is "$(tail -1 "$T/cmp/table.tsv" | cut -f1,4,5)" "lomar	n/a	n/a" "  LoMaR's encoder, which reads windows, gets n/a"
like "$(cat "$T/cmp.err")" "lomar: no evaluation: .*no tensor 'windows'" "  and the reason is said"
like "$(cat "$T/cmp.out")" "\| raw-pixels \| 0 \| 0 \| [0-9.]+ \| [0-9.]+ \|" "  and the markdown table"
finish
