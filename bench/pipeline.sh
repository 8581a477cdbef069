#!/bin/sh
# bench/pipeline.sh: training throughput of the multi-process pipeline
#   mae-encode --ps | mae-reconstruct --ps | mae-loss   with mae-optimize
# against the in-process step (mae-train) on the same configuration and the same masked
# batches, in the same run. Prints images/s (median of RUNS) and the ratio; the target is
# the pipeline within 10% of in-process.
#
# usage: bench/pipeline.sh [MODEL] [BATCH] [STEPS]     (default small-28 256 48; RUNS=3)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
: "${MAE_BUILD:=$here/build}"
PATH="$MAE_BUILD/bin:$PATH"
model=${1:-small-28} batch=${2:-256} steps=${3:-48} runs=${RUNS:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pipe-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
patch=4
case $model in micro-28*) patch=7 ;; vit-*) patch=16 ;; esac
src="fashion-mnist:train"
case $model in vit-*) src="/usr/share/backgrounds /usr/share/wallpapers /usr/share/pixmaps/faces"; ;; esac
# shellcheck disable=SC2086
mae-decode -q -n $((batch * steps)) -b "$batch" -s 1 --train -c $( [ $patch = 16 ] || echo "--crop none -g") $src 2>/dev/null |
	mae-patchify -q -p $patch | mae-mask -q -s 1 random > "$tmp/b.mae"
images=$((batch * steps))
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
inproc() {
	t=$(now); mae-train -q -m "$model" --steps "$steps" --lr 1e-4 -i "$tmp/b.mae" > /dev/null; e=$(now)
	echo "$images / ($e - $t)" | bc -l
}
pipeline() {
	rm -rf "$tmp/r"; mkdir -p "$tmp/r"
	t=$(now)
	mae-optimize -q --ps "@ipc://$tmp/r/ps" -m "$model" --steps "$steps" --lr 1e-4 & p=$!
	mae-encode -q --ps "ipc://$tmp/r/ps" -i "$tmp/b.mae" | mae-reconstruct -q --ps "ipc://$tmp/r/ps" |
		mae-loss -q --loss-only > /dev/null
	wait $p
	e=$(now)
	echo "$images / ($e - $t)" | bc -l
}
echo "training throughput, $model, batch $batch, $steps steps, median of $runs runs (alternating)"
: > "$tmp/i"; : > "$tmp/p"
r=0; while [ $r -lt "$runs" ]; do inproc >> "$tmp/i"; pipeline >> "$tmp/p"; r=$((r + 1)); done
i=$(median < "$tmp/i"); p=$(median < "$tmp/p")
printf 'in-process (mae-train)          %8.1f img/s\n' "$i"
printf 'pipeline (3 stages + optimizer) %8.1f img/s\n' "$p"
printf 'pipeline / in-process           %8.3f  (target >= 0.90)\n' "$(echo "$p / $i" | bc -l)"
