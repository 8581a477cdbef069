#!/bin/sh
# bench/mask.sh: masks per second of every mae-mask strategy at 224x224 (14x14 patches of 16,
# RGB) and 28x28 (7x7 patches of 4, grey), on one core, and the fraction of a training step
# that implies; then the mae-mask program's own throughput on a stream (record decode and
# encode included).
#
# The step times default to DATA.md's tuned PyTorch MAE figures on this machine, per image:
# tiny-224 3.1 img/s (323 ms) and tiny-28 140 img/s (7.1 ms). Set STEP_MS_224 and STEP_MS_28
# to measured mae-encode/reconstruct/loss step times to compare against maepipe's own model.
#
# usage: bench/mask.sh        (after make; MAE_BUILD = the build directory)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
: "${MAE_BUILD:=$here/build}"
: "${STEP_MS_224:=323}"
: "${STEP_MS_28:=7.1}"
PATH="$MAE_BUILD/bin:$PATH"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mask-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cc -std=c11 -D_GNU_SOURCE -O3 -march=native -I"$here/include" \
	-I/usr/include/x86_64-linux-gnu/openblas-pthread -o "$tmp/mask_bench" \
	"$here/bench/mask_bench.c" "$MAE_BUILD/libmae.a" -lopenblas -lm -lpthread
"$tmp/mask_bench" 14 16 3 "$STEP_MS_224"
echo
"$tmp/mask_bench" 7 4 1 "$STEP_MS_28"

# The program on a stream: 64 batches of 64 Fashion-MNIST images, and 8 batches of 32 photos.
echo
echo "mae-mask on a stream (all cores; decode/patchify done beforehand):"
mae-decode -q -n 4096 -b 64 fashion-mnist:train | mae-patchify -q > "$tmp/fm.mae"
photos=$(ls /usr/share/backgrounds/*.jpg /usr/share/backgrounds/mate/nature/*.jpg 2>/dev/null | head -8)
# shellcheck disable=SC2086
mae-decode -q -c --size 224 -b 32 -n 256 -e 1 $photos $photos $photos $photos \
	$photos $photos $photos $photos $photos $photos $photos $photos $photos $photos $photos \
	$photos $photos $photos $photos $photos $photos $photos $photos $photos $photos $photos \
	$photos $photos $photos $photos $photos $photos 2>/dev/null | mae-patchify -q > "$tmp/ph.mae" || true
printf '%-30s %14s %14s\n' "strategy" "28x28 img/s" "224x224 img/s"
for s in random "block --variant beit" grid window "noise --color green" semantic tube "frequency"; do
	rate() {   # rate FILE IMAGES
		t0=$(date +%s.%N)
		# shellcheck disable=SC2086
		mae-mask -q $s < "$1" > /dev/null
		t1=$(date +%s.%N)
		echo "$2 $t0 $t1" | awk '{ printf "%.0f", $1 / ($3 - $2) }'
	}
	a=$(rate "$tmp/fm.mae" 4096)
	b=-
	[ -s "$tmp/ph.mae" ] && b=$(rate "$tmp/ph.mae" 256)
	printf '%-30s %14s %14s\n' "$s" "$a" "$b"
done
