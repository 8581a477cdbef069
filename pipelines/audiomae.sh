#!/bin/sh
# audiomae.sh: Audio-MAE's input on a synthesized labelled set. pipelines/wavset.py writes
# tones, chirps and noise bursts (16 kHz, 16-bit PCM, 0.975 s, a folder per class);
# mae-decode reads each clip as Audio-MAE's Kaldi log-mel spectrogram (96 frames x 128 mel
# bins, a grey image, normalized by AudioSet's mean and std: --fbank-norm), pretrain.sh trains
# MAE on them with 80% random masking (Audio-MAE's ratio) and no flips (a flip would reverse
# time), and eval-knn.sh compares the encoder's features with the raw spectrograms by k-NN
# (k=20) and a linear probe. Also draws a reconstruction figure.
#
#   wavset.py OUT/wav/train N SEED
#   pretrain.sh --data OUT/wav/train --decode "--shuffle -g --crop none" --model "small-28,img_h=96,img_w=128,patch=16"
#   eval-knn.sh --train OUT/wav/train --test OUT/wav/test --decode "-g --crop none" --probe E
#
# usage: pipelines/audiomae.sh [-o OUT] [--clips N] [--test-clips N] [--epochs E] [--batch B]
#        [--blr BLR] [--model SPEC] [--seed S] [--probe E]
# Defaults: 200 train and 100 test clips a class (3 classes), small-28 at 96 x 128 with
# patches of 16 (6 x 8 tokens), 20 epochs of 32, blr 1e-2, probe 50 epochs.
# Writes OUT/wav/, OUT/checkpoint.safetensors, OUT/metrics.tsv, OUT/reconstruction.png,
# OUT/knn.txt and OUT/summary.txt.
set -eu
. "$(dirname "$0")/lib.sh"
out=out/audiomae clips=200 tclips=100 epochs=20 batch=32 blr=1e-2
model="small-28,img_h=96,img_w=128,patch=16" seed=1 probe=50
while [ $# -gt 0 ]; do
	case $1 in
	-o) out=$2; shift ;;
	--clips) clips=$2; shift ;;
	--test-clips) tclips=$2; shift ;;
	--epochs) epochs=$2; shift ;;
	--batch) batch=$2; shift ;;
	--blr) blr=$2; shift ;;
	--model) model=$2; shift ;;
	--seed) seed=$2; shift ;;
	--probe) probe=$2; shift ;;
	-h|--help) sed -n '2,19s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) say "unknown option $1"; exit 1 ;;
	esac
	shift
done
PY=/usr/bin/python3
$PY -c 'import numpy' 2> /dev/null || die "$PY with numpy is needed to synthesize the clips (apt-get install python3-numpy)"
say "clips: $clips train and $tclips test clips of each class (tone, chirp, noise)"
rm -rf "$out/wav"
mkdir -p "$out/wav"
$PY "$here/pipelines/wavset.py" "$out/wav/train" "$clips" "$seed"
$PY "$here/pipelines/wavset.py" "$out/wav/test" "$tclips" "$((seed + 1))"

spec="-g --crop none"
t0=$(date +%s)
sh "$here/pipelines/pretrain.sh" -o "$out" --model "$model" --mask "random -r 0.8" --data "$out/wav/train" \
	--decode "--shuffle $spec" --epochs "$epochs" --batch "$batch" --blr "$blr" --seed "$seed"
t1=$(date +%s)
ckpt=$out/checkpoint.safetensors
patch=$(checkpoint_patch "$ckpt")

say "figure: test spectrograms, 80% masked, and their reconstructions"
# shellcheck disable=SC2086
mae-decode -q $spec -n 6 -b 6 --shuffle -s 3 "$out/wav/test" | mae-patchify -q -p "$patch" |
	mae-mask -q -s "$seed" random -r 0.8 | mae-encode -q -w "$ckpt" | mae-reconstruct -q -w "$ckpt" |
	mae-view -q --norm-pix -n 6 -o "$out/reconstruction.png"
say "k-NN and a linear probe of the features (mean of the patch tokens) against raw spectrograms"
sh "$here/pipelines/eval-knn.sh" -w "$ckpt" -o "$out" --train "$out/wav/train" --test "$out/wav/test" \
	--decode "$spec" --probe "$probe" > /dev/null
t2=$(date +%s)
{
	echo "data             $((3 * clips)) train and $((3 * tclips)) test clips (tone, chirp, noise), 16 kHz, as 96 x 128 log-mel spectrograms"
	echo "model            $model, MAE, 80% random masking, $epochs epochs of $batch, blr $blr"
	run_lines "$out" "$t0" "$t1" "$t2"
	echo "k-NN (k=20)      features $(knn_acc "$out" 'features k=20')%, raw spectrograms $(knn_acc "$out" 'raw-pixels k=20')%"
	echo "linear probe     features $(knn_acc "$out" 'features probe')%, raw spectrograms $(knn_acc "$out" 'raw-pixels probe')% ($probe epochs)"
	echo "pictures         $out/reconstruction.png"
} | tee "$out/summary.txt"
