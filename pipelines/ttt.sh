#!/bin/sh
# ttt.sh: TTT-MAE on a shifted test set. A linear probe is trained on the frozen encoder's
# features of the train split; then the test split, clean and under three ImageNet-C
# corruptions (Gaussian noise, Gaussian blur, contrast; mae-decode --corrupt) at one severity
# and seed, is classified by the probe before and after test-time training of the encoder on
# each image (mae-ttt).
#
#   decode train | patchify | mae-encode -w CKPT -F mean --no-latent | mae-probe --save PROBE
#   decode test --corrupt K:S | patchify [| mae-hog] | mae-ttt -w CKPT --head PROBE
# (mae-hog where the checkpoint predicts HOG, as the main job's does: its target_dim)
#
# usage: pipelines/ttt.sh -w CHECKPOINT [-o OUT] [-n TEST_IMAGES] [--severity S] [--seed S]
#        [--steps N] [--copies C] [--lr LR] [--probe-epochs E] [--train "DECODE OPTIONS"]
# Defaults: 500 test images, severity 3, seed 0, mae-ttt's steps (20), copies (32) and rate
# (5e-3), a probe of 20 epochs on the whole train split.
# Writes OUT/probe.safetensors, OUT/ttt.tsv and OUT/ttt.md (corruption, before, after).
set -eu
. "$(dirname "$0")/lib.sh"
ckpt= out=out/ttt n=500 severity=3 seed=0 steps=20 copies=32 lr=5e-3 pe=20 train=
while [ $# -gt 0 ]; do
	case $1 in
	-w) ckpt=$2; shift ;;
	-o) out=$2; shift ;;
	-n) n=$2; shift ;;
	--severity) severity=$2; shift ;;
	--seed) seed=$2; shift ;;
	--steps) steps=$2; shift ;;
	--copies) copies=$2; shift ;;
	--lr) lr=$2; shift ;;
	--probe-epochs) pe=$2; shift ;;
	--train) train=$2; shift ;;
	-h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) say "unknown option $1"; exit 1 ;;
	esac
	shift
done
patch=$(checkpoint_patch "$ckpt")
mkdir -p "$out"
# a model that predicts another target than the pixels (hogmae, maskfeat: target_dim) trains at
# test time on the same target of the test image, made as its pretraining made it
target=cat
[ "$(checkpoint_field "$ckpt" target_dim)" -gt 0 ] 2> /dev/null && target="mae-hog -q"

say "the probe: $pe epochs on the encoder's features of the train split"
# shellcheck disable=SC2086
mae-decode -q -b 500 $train fashion-mnist:train | mae-patchify -q -p "$patch" |
	mae-encode -q -w "$ckpt" -F mean --no-latent > "$RUNDIR/train.mae"
mae-probe -q -e "$pe" -t "$RUNDIR/train.mae" --save "$out/probe.safetensors" -o /dev/null < "$RUNDIR/train.mae"

printf 'corruption\tbefore\tafter\n' > "$out/ttt.tsv"
for k in none noise blur contrast; do
	corrupt=
	[ $k = none ] || corrupt="--corrupt $k:$severity"
	say "${k}${corrupt:+ (severity $severity)}: $n test images, $steps steps of $copies copies"
	# shellcheck disable=SC2086
	mae-decode -q -b 50 -n "$n" $corrupt fashion-mnist:test | mae-patchify -q -p "$patch" | $target |
		mae-ttt -q -w "$ckpt" --head "$out/probe.safetensors" -s "$seed" --steps "$steps" --copies "$copies" \
			--lr "$lr" -o "$RUNDIR/ttt.txt"
	name=$k
	[ $k = none ] && name=clean
	printf '%s\t%s\t%s\n' "$name" "$(sed -n 's/.*before top1=\([0-9.]*\)%.*/\1/p' "$RUNDIR/ttt.txt")" \
		"$(sed -n 's/.*after top1=\([0-9.]*\)%.*/\1/p' "$RUNDIR/ttt.txt")" >> "$out/ttt.tsv"
done
{
	echo "| test set ($n images, severity $severity) | probe (%) | after test-time training (%) |"
	echo "| --- | ---: | ---: |"
	tail -n +2 "$out/ttt.tsv" | awk -F'\t' '{printf "| %s | %s | %s |\n", $1, $2, $3}'
} > "$out/ttt.md"
cat "$out/ttt.md"
