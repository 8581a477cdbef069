#!/bin/sh
# digits.sh: the encoder's features against raw pixels on a labelled set it never saw, in a
# domain it never saw: scikit-learn's handwritten digits (Debian's python3-sklearn), 1797
# images of 8x8 in 17 grey levels, enlarged to 20x20 and centred in 28x28 as MNIST's
# (pipelines/digits.py), the first 1000 the train set, the other 797 the test set. The same
# eval-knn.sh as the main job: weighted k-NN (k=20), whitened, and a linear probe.
#
# usage: pipelines/digits.sh -w CHECKPOINT [-o DIR] [eval-knn.sh options...]
# The options after -w and -o go to eval-knn.sh (default: --tokens --whiten 128 --probe 100).
# Writes DIR/knn.txt and the IDX files in DIR/data (default DIR: out/digits).
set -eu
. "$(dirname "$0")/lib.sh"
ckpt= out=out/digits
while [ $# -gt 0 ]; do
	case $1 in
	-w) ckpt=$2; shift ;;
	-o) out=$2; shift ;;
	-h|--help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) break ;;
	esac
	shift
done
checkpoint_patch "$ckpt" > /dev/null
[ $# -gt 0 ] || set -- --tokens --whiten 128 --probe 100
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3   # Debian's, with numpy
$py "$here/pipelines/digits.py" -o "$out/data" || die "cannot make the digits set (python3-numpy, python3-sklearn)"
say "digits: 1000 train and 797 test images"
sh "$here/pipelines/eval-knn.sh" -w "$ckpt" -o "$out" --train "$out/data/digits-train-images-idx3-ubyte" \
	--test "$out/data/digits-test-images-idx3-ubyte" "$@"
