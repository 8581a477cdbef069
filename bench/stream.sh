#!/bin/sh
# Stream throughput per hop for large tensors: the same records through 0..4 extra
# mae-tap hops, over pipes and over ipc:// sockets. Per-hop cost = slope of time vs hops.
# Prints the median of 5 runs for each point.
set -u
: "${MAE_BUILD:=$(cd "$(dirname "$0")/.." && pwd)/build}"
PATH="$MAE_BUILD/bin:$PATH"
T=$(mktemp -d /tmp/mae-bench.XXXXXX); trap 'rm -rf "$T"' EXIT
N=${N:-40}                      # records
SHAPE=${SHAPE:-64,196,768}      # one ViT-B batch of patches: 38.5 MB per record
mae-synth -n "$N" -t patches:F32:$SHAPE:rand > "$T/src.mae"
BYTES=$(wc -c < "$T/src.mae")
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() {   # run HOPS KIND -> seconds
	hops=$1 kind=$2
	start=$(date +%s.%N)
	if [ "$kind" = pipe ]; then
		cmd="mae-tap -q /dev/null < $T/src.mae"
		i=1; while [ $i -lt "$hops" ]; do cmd="$cmd | mae-tap -q /dev/null"; i=$((i + 1)); done
		sh -c "$cmd > /dev/null"
	else
		prev="$T/src.mae" pids=""
		i=1; while [ $i -le "$hops" ]; do
			nxt="@ipc://$T/s$i"
			if [ $i -eq "$hops" ]; then nxt=/dev/null; fi
			if [ $i -eq 1 ]; then in="$prev"; else in=">ipc://$T/s$((i - 1))"; fi
			mae-tap -q -i "$in" -o "$nxt" /dev/null & pids="$pids $!"
			i=$((i + 1))
		done
		wait $pids
	fi
	end=$(date +%s.%N)
	echo "$end - $start" | bc -l
}
echo "stream throughput: $N records of F32 [$SHAPE], $(echo "$BYTES / 1000000" | bc) MB in all"
for kind in pipe ipc; do
	for hops in 1 3; do
		t=$(for r in 1 2 3 4 5; do run $hops $kind; done | median)
		eval "t_${kind}_$hops=$t"
		printf '%-4s %d hop(s): %.3f s  %.0f MB/s end to end\n' "$kind" "$hops" "$t" "$(echo "$BYTES / $t / 1000000" | bc -l)"
	done
	eval "d=\$(echo \"(\$t_${kind}_3 - \$t_${kind}_1) / 2\" | bc -l)"
	printf '%-4s per extra hop: %.3f s, %.0f MB/s per hop\n' "$kind" "$d" "$(echo "$BYTES / $d / 1000000" | bc -l)"
done
