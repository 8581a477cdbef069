#!/bin/sh
# holdout.sh: the evaluation of eval-knn.sh on a held-out part of Fashion-MNIST's train split,
# so that choices of recipe and feature are made without the test split: the first 50,000
# train images are the k-NN's (and the probe's) train set, the last 10,000 its test set.
#
#   mae-decode -b 500 -n 50000 fashion-mnist:train         (train: images 0 to 49,999)
#   mae-decode -b 500 --start-batch 100 fashion-mnist:train (test: images 50,000 to 59,999)
#
# usage: pipelines/holdout.sh -w CHECKPOINT [-o DIR] [eval-knn.sh options...]
# The options after -w and -o go to eval-knn.sh (default: --tokens --whiten 128 --probe 100,
# the main job's evaluation). Writes DIR/knn.txt (default DIR: out/holdout). The pretraining
# of the main job sees the held-out images without their labels, as the README's table did;
# the test split's images it never sees.
set -eu
. "$(dirname "$0")/lib.sh"
ckpt= out=out/holdout
while [ $# -gt 0 ]; do
	case $1 in
	-w) ckpt=$2; shift ;;
	-o) out=$2; shift ;;
	-h|--help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) break ;;
	esac
	shift
done
checkpoint_patch "$ckpt" > /dev/null
[ $# -gt 0 ] || set -- --tokens --whiten 128 --probe 100
say "held-out split: train images 0-49999 against 50000-59999"
sh "$here/pipelines/eval-knn.sh" -w "$ckpt" -o "$out" --train fashion-mnist:train --test fashion-mnist:train \
	--train-decode "-n 50000" --test-decode "--start-batch 100" "$@"
