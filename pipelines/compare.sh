#!/bin/sh
# compare.sh: the method table. Every method of pretrain.sh (or those named) trained on the same
# data with the same budget (model, epochs, batch, rate, seed), each checkpoint evaluated the
# same way (weighted k-NN, k=20, and a linear probe on the mean of the patch tokens), beside
# two baselines measured in the same run: the encoder at its random initialisation, and raw
# pixels.
#
# usage: pipelines/compare.sh [-o OUT] [--model SPEC] [--epochs E] [--batch B] [--blr BLR]
#        [--seed S] [--probe E] [--decode "OPTIONS"] [--eval-decode "OPTIONS"] [METHOD...]
# Defaults: every file of pipelines/methods/, tiny-28, 2 epochs of 64, blr 1.2e-2 (main.sh's
# rate), probe 20 epochs, Fashion-MNIST train for pretraining and train/test for evaluation.
# Writes OUT/METHOD/ (each run), OUT/table.tsv and OUT/table.md (method, steps, seconds, k-NN,
# probe), and prints the table. A checkpoint whose encoder cannot read a whole image (LoMaR's
# reads windows) gets n/a, with the reason on stderr.
set -eu
. "$(dirname "$0")/lib.sh"
methods_dir=$(dirname "$0")/methods
out=out/compare model=tiny-28 epochs=2 batch=64 blr=1.2e-2 seed=1 probe=20 decode= evdecode=
while [ $# -gt 0 ]; do
	case $1 in
	-o) out=$2; shift ;;
	--model) model=$2; shift ;;
	--epochs) epochs=$2; shift ;;
	--batch) batch=$2; shift ;;
	--blr) blr=$2; shift ;;
	--seed) seed=$2; shift ;;
	--probe) probe=$2; shift ;;
	--decode) decode=$2; shift ;;
	--eval-decode) evdecode=$2; shift ;;
	-h|--help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
	-*) say "unknown option $1"; exit 1 ;;
	*) break ;;
	esac
	shift
done
methods="$*"
# by default the image methods: a clip method (a file that sets frames: videomae) needs clips
[ -n "$methods" ] || methods=$(grep -L '^frames=' "$methods_dir"/* | sed 's|.*/||')
for m in $methods; do
	[ -f "$methods_dir/$m" ] || { say "unknown method '$m' ($(ls "$methods_dir" | paste -sd' '))"; exit 1; }
done
mkdir -p "$out"
acc() { sed -n "s/^$2 top1=\\([0-9.]*\\)%.*/\\1/p" "$1/knn.txt"; }
evaluate() {   # DIR CHECKPOINT
	# shellcheck disable=SC2086
	sh "$here/pipelines/eval-knn.sh" -w "$2" -o "$1" --probe "$probe" ${evdecode:+--decode "$evdecode"} > /dev/null
}
printf 'method\tsteps\tseconds\tknn\tprobe\n' > "$out/table.tsv"

# the baselines: the encoder as initialised (no step taken: lr 0, one step), and raw pixels
say "baseline: $model at its initialisation (seed $seed)"
mkdir -p "$out/random-init"
mae-decode -q -n "$batch" -b "$batch" fashion-mnist:train | mae-patchify -q -p "$(mae-optimize --show-config -m "$model" | tr ',' '\n' | sed -n 's/^patch=//p')" |
	mae-mask -q -s "$seed" random |
	mae-train -q -s "$seed" -m "$model" --steps 1 --lr 0 -d "$out/random-init" > /dev/null
evaluate "$out/random-init" "$out/random-init/checkpoint.safetensors"
printf 'random-init\t0\t0\t%s\t%s\n' "$(acc "$out/random-init" 'features k=20')" \
	"$(acc "$out/random-init" 'features probe')" >> "$out/table.tsv"
printf 'raw-pixels\t0\t0\t%s\t%s\n' "$(acc "$out/random-init" 'raw-pixels k=20')" \
	"$(acc "$out/random-init" 'raw-pixels probe')" >> "$out/table.tsv"

for m in $methods; do
	say "$m: $model, $epochs epochs of $batch, blr $blr"
	t0=$(date +%s)
	# shellcheck disable=SC2086
	sh "$here/pipelines/pretrain.sh" -o "$out/$m" --method "$m" --model "$model" --epochs "$epochs" \
		--batch "$batch" --blr "$blr" --seed "$seed" ${decode:+--decode "$decode"} 2> "$out/$m.log" ||
		die "$m: pretraining failed (see $out/$m.log)"
	t1=$(date +%s)
	knn=n/a probe_acc=n/a
	# (LoMaR's encoder reads windows, not a whole image: its features are not evaluated)
	if evaluate "$out/$m" "$out/$m/checkpoint.safetensors" 2> "$out/$m.eval.log"; then
		knn=$(acc "$out/$m" 'features k=20') probe_acc=$(acc "$out/$m" 'features probe')
	else
		say "$m: no evaluation: $(grep -v '^eval-knn.sh:' "$out/$m.eval.log" | tail -1)"
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$m" "$(tail -1 "$out/$m/metrics.tsv" | cut -f1)" $((t1 - t0)) \
		"$knn" "$probe_acc" >> "$out/table.tsv"
done

{
	echo "| method | steps | pretraining (s) | k-NN k=20 (%) | linear probe (%) |"
	echo "| --- | ---: | ---: | ---: | ---: |"
	tail -n +2 "$out/table.tsv" | awk -F'\t' '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}'
} > "$out/table.md"
cat "$out/table.md"
