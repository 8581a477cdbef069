#!/bin/sh
# digits.sh: the encoder's features against raw pixels on a labelled set it never saw, in a
# domain it never saw: handwritten digits from Debian packages, centred in 28x28 as MNIST's
# (pipelines/digits.py), with the same eval-knn.sh as the main job: weighted k-NN (k=20),
# whitened, and a linear probe. Two sets (--set):
#   sklearn  scikit-learn's digits (python3-sklearn): 1797 images of 8x8 in 17 grey levels,
#            enlarged to 20x20; the first 1000 the train set, the other 797 the test set
#   opencv   OpenCV's sample digits (opencv-doc): 5000 of MNIST's handwritten digits at 20x20;
#            the left half of each row the train set, the right half the test set (2500 each)
#
# usage: pipelines/digits.sh -w CHECKPOINT [-o DIR] [--set sklearn|opencv] [eval-knn.sh options...]
# The options after -w, -o and --set go to eval-knn.sh (default: --tokens --whiten 128 --probe 100).
# Writes DIR/knn.txt and the IDX files in DIR/data (default DIR: out/digits, out/handwritten
# for --set opencv).
set -eu
. "$(dirname "$0")/lib.sh"
ckpt= out= set=sklearn
while [ $# -gt 0 ]; do
	case $1 in
	-w) ckpt=$2; shift ;;
	-o) out=$2; shift ;;
	--set) set=$2; shift
	    case $set in sklearn|opencv) ;; *) say "--set: sklearn or opencv, not '$set'"; exit 1 ;; esac ;;
	-h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) break ;;
	esac
	shift
done
checkpoint_patch "$ckpt" > /dev/null
[ -n "$out" ] || case $set in sklearn) out=out/digits ;; opencv) out=out/handwritten ;; esac
[ $# -gt 0 ] || set -- --tokens --whiten 128 --probe 100
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3   # Debian's, with numpy
$py "$here/pipelines/digits.py" -o "$out/data" --set "$set" ||
	die "cannot make the digits set (python3-numpy, python3-pil, python3-sklearn, opencv-doc)"
say "digits ($set): $(($(wc -c < "$out/data/digits-train-labels-idx1-ubyte") - 8)) train and $(($(wc -c < "$out/data/digits-test-labels-idx1-ubyte") - 8)) test images"
sh "$here/pipelines/eval-knn.sh" -w "$ckpt" -o "$out" --train "$out/data/digits-train-images-idx3-ubyte" \
	--test "$out/data/digits-test-images-idx3-ubyte" "$@"
