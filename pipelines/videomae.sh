#!/bin/sh
# videomae.sh: VideoMAE on Moving Fashion-MNIST. Makes the clips (mae-synth --moving-fmnist:
# items of the train split for pretraining, of the test split for evaluation), pretrains with
# `pretrain.sh --method videomae`, draws test clips' reconstructions (frames side by side; per
# clip the rows are the clip, the masked clip, the reconstruction and the reconstruction with
# the visible tubelets pasted in) and evaluates the encoder's clip features by k-NN (k=20) and
# a linear probe against raw pixels (eval-knn.sh), the label being the moving item's class.
#
#   mae-synth --moving-fmnist OUT/clips/train -n CLIPS --frames 20
#   pretrain.sh --method videomae --frames T --data OUT/clips/train --model "small-28,img=64,patch=8"
#   mae-decode --clip T OUT/clips/test | mae-patchify | mae-mask tube | mae-encode -w |
#       mae-reconstruct -w | mae-view --norm-pix
#
# usage: pipelines/videomae.sh [-o OUT] [--clips N] [--test-clips N] [--frames T] [--epochs E]
#        [--batch B] [--blr BLR] [--model SPEC] [--seed S] [--probe E]
# Defaults: 2000 train and 500 test clips of 20 frames (Moving MNIST's length), samples of 8
# frames at stride 2 (VideoMAE's on SSv2), small-28 at 64x64 with 8x8 patches (tubelets of
# 2x8x8: 4x8x8 tokens), 20 epochs of 32 clips, blr 1e-2, probe 50 epochs.
# Writes OUT/clips/, OUT/checkpoint.safetensors, OUT/metrics.tsv, OUT/reconstruction.png,
# OUT/knn.txt and OUT/summary.txt.
set -eu
. "$(dirname "$0")/lib.sh"
out=out/videomae clips=2000 tclips=500 frames=8 epochs=20 batch=32 blr=1e-2
model="small-28,img=64,patch=8" seed=1 probe=50
while [ $# -gt 0 ]; do
	case $1 in
	-o) out=$2; shift ;;
	--clips) clips=$2; shift ;;
	--test-clips) tclips=$2; shift ;;
	--frames) frames=$2; shift ;;
	--epochs) epochs=$2; shift ;;
	--batch) batch=$2; shift ;;
	--blr) blr=$2; shift ;;
	--model) model=$2; shift ;;
	--seed) seed=$2; shift ;;
	--probe) probe=$2; shift ;;
	-h|--help) sed -n '2,22s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) say "unknown option $1"; exit 1 ;;
	esac
	shift
done
command -v mae-synth > /dev/null || die "mae-synth not found: run make first"
mkdir -p "$out/clips"
say "clips: $clips from the train split, $tclips from the test split, 20 frames of 64x64"
rm -rf "$out/clips/train" "$out/clips/test"
mae-synth -q --moving-fmnist "$out/clips/train" -n "$clips" --frames 20 --split train -s "$seed"
mae-synth -q --moving-fmnist "$out/clips/test" -n "$tclips" --frames 20 --split test -s "$((seed + 1))"

t0=$(date +%s)
sh "$here/pipelines/pretrain.sh" -o "$out" --method videomae --frames "$frames" --model "$model" \
	--data "$out/clips/train" --epochs "$epochs" --batch "$batch" --blr "$blr" --seed "$seed"
t1=$(date +%s)
ckpt=$out/checkpoint.safetensors
patch=$(checkpoint_patch "$ckpt")
clip="--clip $frames --frame-stride 2 --crop none -g"

say "figure: test clips, their tube masks (90%) and reconstructions"
# shellcheck disable=SC2086
mae-decode -q $clip -n 4 -b 4 "$out/clips/test" | mae-patchify -q -p "$patch" |
	mae-mask -q -s "$seed" tube -r 0.9 | mae-encode -q -w "$ckpt" | mae-reconstruct -q -w "$ckpt" |
	mae-view -q --norm-pix -n 4 --scale 1 -o "$out/reconstruction.png"
mae-plot -x step -y loss --smooth 10 -t "VideoMAE on Moving Fashion-MNIST" -o "$out/loss.png" "$out/metrics.tsv"

say "k-NN and a linear probe of the clip features (mean of the tubelet tokens) against raw pixels"
sh "$here/pipelines/eval-knn.sh" -w "$ckpt" -o "$out" --train "$out/clips/train" --test "$out/clips/test" \
	--decode "$clip" --probe "$probe" > /dev/null
t2=$(date +%s)
{
	echo "data             Moving Fashion-MNIST: $clips train clips (train split items), $tclips test clips (test split items), 64x64, $frames frames a sample at stride 2"
	echo "model            $model, VideoMAE: tubelets 2x${patch}x$patch, tube masking 90%, normtube target; $epochs epochs of $batch, blr $blr"
	run_lines "$out" "$t0" "$t1" "$t2"
	echo "k-NN (k=20)      features $(knn_acc "$out" 'features k=20')%, raw pixels $(knn_acc "$out" 'raw-pixels k=20')%"
	echo "linear probe     features $(knn_acc "$out" 'features probe')%, raw pixels $(knn_acc "$out" 'raw-pixels probe')% ($probe epochs)"
	echo "pictures         $out/reconstruction.png $out/loss.png"
} | tee "$out/summary.txt"
