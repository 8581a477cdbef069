#!/bin/sh
# Dead and hung peers across real hosts (network namespaces): a stream from host 1 to
# host 2 whose link goes down, or whose producer is stopped (SIGSTOP), is noticed on both
# sides within the heartbeat's timeout plus the peer grace (MAE_HEARTBEAT, MAE_PEER_GRACE),
# and each side stops with status 2 and says why; without heartbeats the reader would wait
# for ever, which is checked too. Every ZeroMQ socket also carries the record limit
# (ZMQ_MAXMSGSIZE): a message over it never reaches the reader.
. "$(dirname "$0")/lib.sh"
. "$TDIR/lib/hosts.sh"
hosts_available || skip_all "network namespaces: $HOSTS_WHY"
hosts_up 2 || { echo "not ok 1 - two hosts"; exit 1; }
A2=$(host_addr 2)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# wait_file F: until F is not empty (at most 10 s)
wait_file() { n=0; while [ ! -s "$1" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done; }
# wait_gone PID SECONDS: until PID has exited; 0 if it did in time
wait_gone() { n=0; while kill -0 "$1" 2>/dev/null && [ $n -lt $(($2 * 10)) ]; do sleep 0.1; n=$((n + 1)); done; ! kill -0 "$1" 2>/dev/null; }

# stream PORT: host 1 decodes for ever into host 2's mae-inspect; sets rd, wr (their pids)
stream() {
	on 2 mae-inspect -c -i "@tcp://$A2:$1" -o "$T/in.$1" 2> "$T/rd.$1" & rd=$!
	on 1 mae-decode -q -b 16 -e 100000 fashion-mnist:test -o ">tcp://$A2:$1" 2> "$T/wr.$1" & wr=$!
	wait_file "$T/in.$1"
}

# 1. The link goes down: both sides stop within heartbeat timeout (2 s) + grace (1 s) + slack
export MAE_HEARTBEAT=0.5,2 MAE_PEER_GRACE=1
stream 5701
[ -s "$T/in.5701" ]; ok $? "link down: records flow from host 1 to host 2 first"
t0=$(now)
link_down 1
wait_gone $rd 10; ok $? "link down: the reader on host 2 stops within 10 s (took $(since $t0) s)"
wait $rd; is "$?" 2 "link down: the reader's status is 2"
like "$(cat "$T/rd.5701")" "every producer disconnected after [0-9]+ records without sending its end-of-stream record" \
	"link down: the reader says its producer vanished"
wait_gone $wr 10; ok $? "link down: the writer on host 1 stops within 10 s (took $(since $t0) s)"
wait $wr; is "$?" 2 "link down: the writer's status is 2"
like "$(cat "$T/wr.5701")" "every reader disconnected after [0-9]+ records and none came back in 1 s" \
	"link down: the writer says its reader vanished"
link_up 1

# 2. The producer hangs (SIGSTOP): its ZeroMQ thread stops answering pings too
stream 5702
pid=$(pgrep -f -- "-o >tcp://$A2:5702" | head -1)
[ -n "$pid" ]; ok $? "SIGSTOP: the producer's pid"
t0=$(now)
kill -STOP "$pid"
wait_gone $rd 10; ok $? "SIGSTOP: the reader stops within 10 s (took $(since $t0) s)"
wait $rd; is "$?" 2 "SIGSTOP: the reader's status is 2"
kill -KILL "$pid"; wait $wr 2>/dev/null

# 3. Without heartbeats nothing tells the reader that the link is gone: it is still
# waiting 8 s later (what the heartbeat is for)
MAE_HEARTBEAT=0 stream 5703
link_down 1
sleep 8
kill -0 $rd 2>/dev/null; ok $? "MAE_HEARTBEAT=0: after 8 s with the link down the reader still waits"
kill -TERM $rd $wr 2>/dev/null; wait $rd $wr 2>/dev/null
link_up 1

# 4. MAE_HEARTBEAT is checked
msg=$(MAE_HEARTBEAT=2,1 mae-inspect -i "@tcp://127.0.0.1:5704" 2>&1 < /dev/null); st=$?
is "$st:$msg" "1:mae-inspect: MAE_HEARTBEAT '2,1': expected IVL[,TIMEOUT] in seconds, 0 <= IVL <= TIMEOUT <= 6000" \
	"a timeout shorter than the interval is a usage error"

# 5. ZMQ_MAXMSGSIZE: a 2000-byte record against a limit of 1000 never reaches the reader
# (ZeroMQ drops the connection); the reader stops as for a vanished producer
unset MAE_HEARTBEAT
MAE_MAX_RECORD=1000 MAE_PEER_GRACE=1 on 2 mae-inspect -c -i "@tcp://$A2:5705" -o "$T/in.5705" 2> "$T/rd.5705" & rd=$!
on 1 mae-synth -n 3 -t x:U8:2000:iota -o ">tcp://$A2:5705" 2> /dev/null & wr=$!
wait_gone $rd 10; ok $? "MAE_MAX_RECORD=1000: the reader stops"
wait $rd; is "$?" 2 "MAE_MAX_RECORD=1000: with status 2"
is "$(grep -c '^[0-9]* seq=' "$T/in.5705")" 0 "MAE_MAX_RECORD=1000: the header came through, no batch of 2000 bytes did"
like "$(cat "$T/rd.5705")" "exceed MAE_MAX_RECORD" "MAE_MAX_RECORD=1000: the message names the limit among the causes"
kill -TERM $wr 2>/dev/null; wait $wr 2>/dev/null

# 6. a trainable stage waiting for its gradient (none comes: no mae-loss downstream) whose
# server dies: it stops after MAE_PEER_GRACE, not after --grad-timeout (300 s); before, an
# encoder cut off by a link that came back waited there long after its server had stopped
mae-decode -q -n 32 -b 32 fashion-mnist:train | mae-patchify -p 7 | mae-mask -s 3 random > "$T/one.mae"
on 2 mae-optimize -q --ps "@tcp://$A2:5706" -s 5 -m micro-28 --steps 4 -d "$T/srv6" 2> /dev/null & srv=$!
MAE_PEER_GRACE=1 on 1 mae-encode -q --ps "tcp://$A2:5706" -i "$T/one.mae" > /dev/null 2> "$T/enc.5706" & enc=$!
host_wait_listen 2 5706 10
sleep 1
kill -KILL $srv 2>/dev/null; pkill -KILL -f "mae-optimize -q --ps @tcp://$A2:5706"
wait_gone $enc 15; ok $? "an encoder waiting for its gradient stops once its server is gone"
wait $enc; is "$?" 2 "  with status 2"
like "$(cat "$T/enc.5706")" "parameter server tcp://$A2:5706: gone while waiting for the gradient of batch 0" "  and it says what it waited for"
finish
