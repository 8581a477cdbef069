#!/bin/sh
# eval-knn.sh: k-NN evaluation of a pretrained encoder (DINO's weighted k-NN: L2-normalized
# features, k=20, T=0.07), against raw pixels measured by the same mae-knn in the same run.
#
#   decode train | patchify | mae-encode -w CKPT -F POOL --no-latent  > train features
#   decode test  | patchify | mae-encode -w CKPT -F POOL --no-latent  > test features
#   mae-knn -f feature,patches -V none[,z][,w] -t train-features -i test-features
# One mae-knn answers every tensor and variant asked for, from one read of each file.
#
# usage: pipelines/eval-knn.sh -w CHECKPOINT [-o DIR] [-k 20] [-p mean|cls]
#        [--train SRC] [--test SRC] [--decode "OPTIONS"] [--train-decode "OPTIONS"]
#        [--test-decode "OPTIONS"] [--no-raw] [--tokens] [-z] [--whiten K] [--probe E]
# -p: the pooled feature: mean of the patch tokens (default) or the cls token.
# -z: also every k-NN with each feature standardized by the train set's statistics
# (mae-knn -z), on lines of their own ("features-z k=20 ...", "raw-pixels-z ...").
# --whiten K: also every k-NN standardized, then on the first K principal components of the
# train features, whitened (mae-knn -z --pca K): "features-w k=20 ...".
# --tokens: also k-NN on the encoder's whole output flattened ((1 + N) x D numbers a sample;
# slower, and often better than either), from the same pass ("tokens k=20 ...").
# --probe E: also a linear probe (mae-probe, E epochs) on the same feature files: "features
# probe top1=..%", with --tokens "tokens probe top1=..%", unless --no-raw "raw-pixels probe ..".
# --train-decode, --test-decode: mae-decode options of one side only, after --decode's (the
# held-out split of holdout.sh: -n 50000 and --start-batch 100 of one source).
# Defaults: Fashion-MNIST's train and test splits from Debian's dataset-fashion-mnist.
# Prints "features k=20 top1=..%" and "raw-pixels k=20 top1=..%" and writes DIR/knn.txt.
set -eu
. "$(dirname "$0")/lib.sh"
ckpt= out=. k=20 pool=mean train=fashion-mnist:train test=fashion-mnist:test decode= raw=1
dtrain= dtest= tok=0 z=0 white=0
probe=0
while [ $# -gt 0 ]; do
	case $1 in
	-w) ckpt=$2; shift ;;
	-o) out=$2; shift ;;
	-k) k=$2; shift ;;
	-p) pool=$2; shift
	    case $pool in mean|cls) ;; *) say "-p: mean or cls, not '$pool'"; exit 1 ;; esac ;;
	--train) train=$2; shift ;;
	--test) test=$2; shift ;;
	--decode) decode=$2; shift ;;
	--train-decode) dtrain=$2; shift ;;
	--test-decode) dtest=$2; shift ;;
	--no-raw) raw=0 ;;
	--tokens) tok=1 ;;
	-z) z=1 ;;
	--whiten) white=$2; shift ;;
	--probe) probe=$2; shift; whole --probe "$probe" "a number of epochs" ;;
	-h|--help) sed -n '2,27s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) say "unknown option $1"; exit 1 ;;
	esac
	shift
done
patch=$(checkpoint_patch "$ckpt")
mkdir -p "$out"

# --tokens keeps the encoder's whole output (latent: cls and every patch token) in the files
encode="-F $pool --no-latent"
[ $tok = 0 ] || encode="-F $pool"
features() {   # SRC FILE OPTIONS
	# shellcheck disable=SC2086
	mae-decode -q -b 500 $decode $3 "$1" | mae-patchify -q -p "$patch" |
		mae-encode -q -w "$ckpt" $encode > "$2"
}
say "features of $train and $test ($pool pooling)"
features "$train" "$RUNDIR/train.mae" "$dtrain"
features "$test" "$RUNDIR/test.mae" "$dtest"
# one mae-knn answers every tensor and variant; its lines are labelled by tensor (feature,
# latent, patches) and variant (-z, -w), renamed here as before (features, tokens, raw-pixels).
# It writes a file, not a pipe, so that its failure stops the script with its status.
tensors=feature variants=none pca=
[ $tok = 0 ] || tensors=$tensors,latent
[ $raw = 0 ] || tensors=$tensors,patches
[ $z = 0 ] || variants=$variants,z
[ "$white" = 0 ] || { variants=$variants,w; pca="--pca $white"; }
# shellcheck disable=SC2086
mae-knn -k "$k" -f "$tensors" -V "$variants" $pca -t "$RUNDIR/train.mae" -i "$RUNDIR/test.mae" -o "$RUNDIR/knn.txt"
sed -e 's/^feature\([ -]\)/features\1/' -e 's/^latent\([ -]\)/tokens\1/' -e 's/^patches\([ -]\)/raw-pixels\1/' \
	"$RUNDIR/knn.txt" | tee "$out/knn.txt"
if [ "$probe" != 0 ]; then
	say "linear probe: $probe epochs"
	for f in feature $([ $tok = 0 ] || echo latent) $([ $raw = 0 ] || echo patches); do
		case $f in feature) name=features ;; latent) name=tokens ;; patches) name=raw-pixels ;; esac
		# a file, not a pipe: a probe that fails stops the script with its status
		mae-probe -q -e "$probe" -f $f -t "$RUNDIR/train.mae" -i "$RUNDIR/test.mae" -o "$RUNDIR/probe.txt"
		echo "$name probe $(cat "$RUNDIR/probe.txt")" | tee -a "$out/knn.txt"
	done
fi
