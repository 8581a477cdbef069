#!/bin/sh
# The stream over real ZeroMQ sockets: ipc and tcp, PUSH/PULL with backpressure, merging N
# producers, fanning out to N workers, PUB taps that never stall the main stream, pyzmq peers.
. "$(dirname "$0")/lib.sh"

mae-synth -s 5 -n 20 -t x:F32:8,64,48:randn -t index:I64:8:iota > "$T/src.mae"
mae-inspect -c < "$T/src.mae" | grep ' seq=' > "$T/src.txt"

# ipc: reader binds, writer connects
timeout 30 mae-inspect -c -i "@ipc://$T/a" > "$T/ipc.txt" & r=$!
timeout 30 mae-tap -q -i "$T/src.mae" -o ">ipc://$T/a" /dev/null; ok $? "writer over ipc:// exits 0"
wait $r; ok $? "reader over ipc:// exits 0"
grep ' seq=' "$T/ipc.txt" | cmp -s - "$T/src.txt"; ok $? "ipc:// delivers every record intact and in order"

# tcp: writer binds, reader connects
port=$(free_port)
timeout 30 mae-tap -q -i "$T/src.mae" -o "@tcp://127.0.0.1:$port" /dev/null & w=$!
timeout 30 mae-inspect -c -i "tcp://127.0.0.1:$port" > "$T/tcp.txt"; ok $? "reader over tcp:// exits 0"
wait $w; ok $? "writer over tcp:// exits 0"
grep ' seq=' "$T/tcp.txt" | cmp -s - "$T/src.txt"; ok $? "tcp:// delivers every record intact and in order"

# merge: three producers into one PULL
timeout 30 mae-inspect -c -i "@ipc://$T/m" --merge 3 > "$T/merge.txt" & r=$!
for s in 1 2 3; do timeout 30 mae-synth -s $s -n 7 -t x:F32:3:rand -o ">ipc://$T/m" & done
wait $r; ok $? "--merge 3 ends after the third end-of-stream record"
is "$(grep -c ' seq=' "$T/merge.txt")" 21 "all 21 batches of 3 producers arrive"

# fan-out: one PUSH to three workers, merged again
timeout 30 mae-inspect -c -i "@ipc://$T/sink" --merge 3 > "$T/fan.txt" & r=$!
for k in 1 2 3; do timeout 30 mae-tap -q -i ">ipc://$T/fan" -o ">ipc://$T/sink" /dev/null & done
timeout 30 mae-tap -q -i "$T/src.mae" -o "@ipc://$T/fan" --fanout 3 /dev/null; ok $? "--fanout 3 producer ends"
wait $r; ok $? "the merging sink ends"
grep ' seq=' "$T/fan.txt" | sort -t= -k2 -n | cut -d' ' -f2- > "$T/fan.sorted"
cut -d' ' -f2- "$T/src.txt" | sort -t= -k2 -n > "$T/src.sorted"
cmp -s "$T/fan.sorted" "$T/src.sorted"; ok $? "every batch went through exactly one worker"

# a PUB tap with no subscriber never blocks the main stream
timeout 30 mae-tap "@ipc://$T/pub" < "$T/src.mae" | cmp -s - "$T/src.mae"
ok $? "PUB tap without subscribers: main stream unchanged and not stalled"

# a live subscriber joining a running stream sees the repeated header and some batches
( for i in 1 2 3 4 5 6; do cat "$T/src.mae"; sleep 0.4; done ) | \
	timeout 30 mae-tap -i - --merge 6 "@ipc://$T/live" > /dev/null & t=$!
timeout 20 mae-inspect -c -i "sub:>ipc://$T/live" > "$T/live.txt" 2>/dev/null & s=$!
wait $t; ok $? "tapped stream finishes while a subscriber watches"
wait $s
like "$(head -1 "$T/live.txt")" "^header" "subscriber got a header"

# pyzmq receives from a mae endpoint and decodes records with msgpack
timeout 30 $PY - "$T" <<'PY' & p=$!
import zmq, msgpack, numpy as np, sys
ctx = zmq.Context(); s = ctx.socket(zmq.PULL); s.bind('ipc://' + sys.argv[1] + '/py')
n = 0
while True:
    r = msgpack.unpackb(s.recv(), raw=False)
    if r['type'] == 'batch':
        x = r['tensors']['x']; a = np.frombuffer(x['data'], '<f4').reshape(x['shape'])
        assert a.shape == (8, 64, 48); n += 1
    if r['type'] == 'eos':
        assert r['count'] == n == 20, (r, n); break
s.close(0); ctx.term()
PY
timeout 30 mae-tap -q -i "$T/src.mae" -o ">ipc://$T/py" /dev/null
wait $p; ok $? "pyzmq PULL receives all 20 records from mae-tap's PUSH"

# a pyzmq producer feeding mae-inspect
timeout 30 mae-inspect -i "@ipc://$T/pyin" > "$T/pyin.txt" & r=$!
$PY - "$T" <<'PY'
import zmq, msgpack, numpy as np, sys, time
ctx = zmq.Context(); s = ctx.socket(zmq.PUSH); s.connect('ipc://' + sys.argv[1] + '/pyin')
p = msgpack.packb
s.send(p({'type': 'header', 'version': 1, 'producer': 'pyzmq'}))
s.send(p({'type': 'batch', 'seq': 0, 'tensors': {'y': {'dtype': 'I64', 'shape': [2], 'data': np.array([5, 6], '<i8').tobytes()}}}))
s.send(p({'type': 'eos', 'count': 1, 'skipped': 0}))
s.close(linger=5000); ctx.term()
PY
wait $r; ok $? "mae-inspect reads a stream sent by pyzmq"
like "$(cat "$T/pyin.txt")" "y:I64 \[2\] min=5 max=6" "values arrive"

# a producer that dies mid-stream: the reader says so and exits 2 instead of hanging
MAE_PEER_GRACE=1 timeout 30 mae-inspect -c -i "@ipc://$T/dead" > /dev/null 2> "$T/dead.err" & r=$!
( mae-synth -n 100000 -t x:F32:64,64:zeros -o ">ipc://$T/dead" & p=$!; sleep 1; kill -9 $p ) 2>/dev/null
wait $r; is $? 2 "producer killed mid-stream: reader exits 2"
like "$(cat "$T/dead.err")" "disconnected after [0-9]+ records without sending its end-of-stream" "and says why"
finish
