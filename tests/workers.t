#!/bin/sh
# Stateless workers in a fan-out (mae(7), "Fan-out and merge"): a decoder feeds two
# mae-patchify workers, a merge reads them behind a slow consumer. A worker killed (kill -9)
# mid-stream takes the batches it held with it, and nothing can bring them back; the merge
# must say so and stop (status 2), never end as if the stream were whole, never hang, and
# never abort in libzmq (it did, with heartbeats on data sockets: libzmq 4.3.4 asserts when a
# peer dies while its reader is behind). A worker started in its place cannot join: the
# stream's header went to the first two. Without a fault the same fan-out gives every batch
# exactly once.
. "$(dirname "$0")/lib.sh"
R=$T/run
mkdir -p "$R"
# slow: read stdin 64 KiB at a time, 10 ms apart (about 6 MB/s: the merge falls behind)
slow() { while dd bs=64k count=1 status=none 2> /dev/null | grep -q .; do sleep 0.01; done; }
# fanout NAME: decode (100 batches of 128) to two workers to a merge; the merge's records
# are tapped to NAME.mae, its status and stderr go to NAME.st and NAME.err
fanout() {
	( timeout 60 mae-tap -q -i "@ipc://$R/$1.out" --merge 2 --ordered "$T/$1.mae" 2> "$T/$1.err" | slow; ) &
	mp=$!
	for k in 1 2; do mae-patchify -q -p 7 -i ">ipc://$R/$1.in" -o ">ipc://$R/$1.out" 2> "$T/$1.w$k" & done
	mae-decode -q -n 12800 -b 128 -s 1 fashion-mnist:train -o "@ipc://$R/$1.in" --fanout 2 2> "$T/$1.dec" &
	dp=$!
}
seqs() { mae-inspect -i "$T/$1.mae" 2>/dev/null | sed -n 's/.* seq=\([0-9]*\).*/\1/p'; }
export MAE_PEER_GRACE=2

# 1. no fault: every batch once, in order
fanout clean
wait $dp; wait $mp
is "$(seqs clean | wc -l):$(seqs clean | sort -n | uniq -d | wc -l)" "100:0" "two workers, no fault: 100 batches, none twice"
is "$(seqs clean | paste -sd' ')" "$(seq 0 99 | paste -sd' ')" "  in seq order"

# 2. a worker killed mid-stream, another started in its place
fanout kill
sleep 1
workers=$(pgrep -f "mae-patchify -q -p 7 -i >ipc://$R/kill.in" | wc -l)
is "$workers" 2 "both workers are still at work one second in (the merge is behind)"
pkill -KILL -o -f "mae-patchify -q -p 7 -i >ipc://$R/kill.in"
mae-patchify -q -p 7 -i ">ipc://$R/kill.in" -o ">ipc://$R/kill.out" 2> "$T/kill.w3" &
t0=$(date +%s)
n=0
while [ ! -s "$T/kill.err" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
is "$(grep -c . "$T/kill.err")" 1 "the merge reports the loss (within $(( $(date +%s) - t0 )) s)"
like "$(cat "$T/kill.err")" "mae-tap: @ipc://$R/kill.out: (1 of 2 producers left without their end-of-stream record|ordered merge: batch [0-9]* never came)" \
	"  naming what happened"
grep -q Assertion "$T/kill.err"; is $? 1 "  and libzmq did not abort"
wait $mp
n=$(seqs kill | wc -l)
[ "$n" -lt 100 ]; ok $? "  it handed on $n of the 100 batches, not all"
is "$(seqs kill | sort -n | uniq -d | wc -l)" 0 "  none twice"
like "$(cat "$T/kill.w3")" "record 0: expected a header record, got a batch record" "a worker started mid-stream cannot join: it says why"
sleep 3
is "$(pgrep -f "ipc://$R/" | wc -l)" 0 "nothing of the run is left"
finish
