#!/bin/sh
# CURVE on tcp:// (MAE_CURVE=DIR, keys from mae-keygen): a stream and a training run go
# through encrypted, authenticated sockets with the same bits as without; a client whose key
# is not listed, one without CURVE, and one with another run's keys get nothing through and
# change nothing (the refusal is logged); the keys are files a user can read.
. "$(dirname "$0")/lib.sh"
$PY -c 'import zmq, sys; sys.exit(0 if zmq.has("curve") else 1)' 2>/dev/null || skip_all "pyzmq without CURVE"
K=$T/keys
mae-keygen -q "$K"
ok $? "mae-keygen DIR makes a run's keys"
is "$(cd "$K" && ls | paste -sd' ')" "client.key client.pub clients.pub server.key server.pub" "  server, client and the list of clients"
is "$(stat -c %a "$K/server.key" "$K/client.key" | paste -sd' ')" "600 600" "  secret keys are private (0600)"
$PY -c 'import sys, zmq.utils.z85 as z; k = open(sys.argv[1]).read().split(); sys.exit(0 if len(k) == 1 and len(z.decode(k[0])) == 32 else 1)' "$K/server.pub"
ok $? "  a public key is 40 characters of Z85 (32 bytes)"
msg=$(mae-keygen "$K" 2>&1); st=$?
is "$st:$msg" "2:mae-keygen: $K/server.key: exists already (keys are never overwritten)" "keys are never overwritten"
mae-keygen -q --client other "$K"
is "$(wc -l < "$K/clients.pub")" 2 "--client NAME adds a pair and lists it"
is "$(mae-keygen --client ../x "$K" 2>&1)" "mae-keygen: --client '../x': a plain name other than server and clients" "  a client name is a plain name"
mkdir -p "$T/alien"; mae-keygen -q "$T/alien"

# 1. a stream over tcp with CURVE on both ends: the same records as without
P1=$(free_port)
mae-synth -s 2 -n 5 -t x:F32:3,8:randn > "$T/src.mae"
mae-inspect -c < "$T/src.mae" | grep seq > "$T/want"
MAE_CURVE=$K mae-inspect -c -i "@tcp://127.0.0.1:$P1" -o "$T/got.txt" & r=$!
MAE_CURVE=$K mae-tap -q -i "$T/src.mae" -o ">tcp://127.0.0.1:$P1" /dev/null
wait $r; ok $? "a stream over CURVE: the reader ends well"
grep seq "$T/got.txt" > "$T/got"
cmp -s "$T/got" "$T/want"; ok $? "  with every record, bit for bit"

# 2. intruders against a CURVE reader: none gets a record in; the real writer still does
P2=$(free_port)
MAE_CURVE=$K MAE_PEER_GRACE=30 mae-inspect -c -i "@tcp://127.0.0.1:$P2" -o "$T/got2.txt" 2> "$T/rd2.err" & r=$!
$PY - "$P2" "$K" "$T/alien" "$T/src.mae" > "$T/intruders.txt" <<'PY'
import sys, time, zmq
port, keys, alien, src = sys.argv[1:]
rec = open(src, 'rb').read()
ctx = zmq.Context()
def key(path, line):
    return open(path).read().split('\n')[line].split()[-1].encode()
def push(curve):
    s = ctx.socket(zmq.PUSH); s.linger = 0; s.sndtimeo = 1500
    if curve:
        pub, sec = zmq.curve_keypair() if curve == 'own' else (key(alien + '/client.key', 0), key(alien + '/client.key', 1))
        s.curve_serverkey = key((keys if curve != 'alien-server' else alien) + '/server.pub', 0)
        s.curve_publickey, s.curve_secretkey = pub, sec
    s.connect('tcp://127.0.0.1:%s' % port)
    try:
        s.send(rec); sent = 'queued'
    except zmq.Again:
        sent = 'blocked'
    time.sleep(1.0)
    s.close()
    return sent
for who in ('plain', 'own', 'alien', 'alien-server'):
    print(who, push(who))
PY
ok $? "four intruders tried: no CURVE, an unlisted key, another run's client key, another run's server"
MAE_CURVE=$K mae-tap -q -i "$T/src.mae" -o ">tcp://127.0.0.1:$P2" /dev/null
wait $r; ok $? "the reader still takes the real writer's stream and ends well"
grep seq "$T/got2.txt" > "$T/got2"
cmp -s "$T/got2" "$T/want"; ok $? "  and it got exactly the real records: nothing of the intruders'"
like "$(cat "$T/rd2.err")" "refused a client from 127.0.0.1: its key .{40} is not in $K/clients.pub" "  the refusal of an unlisted key is logged with its address and key"
without=$(mae-inspect -c < "$T/src.mae" | grep -c seq)

# 3. a CURVE writer to a reader without CURVE: the reader gets nothing readable
P3=$(free_port)
MAE_PEER_GRACE=1 timeout 10 mae-inspect -c -i "@tcp://127.0.0.1:$P3" -o "$T/got3.txt" 2>/dev/null & r=$!
MAE_CURVE=$K MAE_PEER_GRACE=2 timeout 5 mae-tap -q -i "$T/src.mae" -o ">tcp://127.0.0.1:$P3" /dev/null 2>/dev/null
kill $r 2>/dev/null; wait $r 2>/dev/null
is "$(cat "$T/got3.txt" 2>/dev/null | grep -c seq)" 0 "a reader without the keys gets no record from a CURVE writer ($without without CURVE)"

# 4. training over CURVE: the parameter server, the gradient and data links all on tcp with
# CURVE, against mae-train: the same weights, bit for bit; an intruder's hello is refused
export OPENBLAS_NUM_THREADS=1 MAE_THREADS=1
TRAIN="-s 5 -m micro-28 --steps 12 --warmup 2 --lr 1e-3"
mae-decode -q -n 384 -b 32 -s 3 fashion-mnist:train | mae-patchify -p 7 | mae-mask -s 3 random > "$T/b.mae"
mae-train -q $TRAIN -d "$T/one" -i "$T/b.mae" > /dev/null
PS=$(free_port) G=$(free_port) D=$(free_port)
mkdir -p "$T/c"
MAE_CURVE=$K mae-optimize -q --ps "@tcp://127.0.0.1:$PS" --timeout 60 $TRAIN -d "$T/c" 2> "$T/ps.err" & ps=$!
K=$K $PY - "$PS" <<'PY' > "$T/hello.txt"
import os, sys, zmq, msgpack
ctx = zmq.Context(); s = ctx.socket(zmq.DEALER); s.linger = 0; s.rcvtimeo = 2000
pub, sec = zmq.curve_keypair()
s.curve_serverkey = open(os.environ['K'] + '/server.pub').read().split()[0].encode()
s.curve_publickey, s.curve_secretkey = pub, sec
s.connect('tcp://127.0.0.1:%s' % sys.argv[1])
s.send(msgpack.packb({'type': 'header', 'op': 'hello', 'group': 'encoder', 'replica': 0}))
try:
    s.recv(); print('answered')
except zmq.Again:
    print('no answer')
PY
is "$(cat "$T/hello.txt")" "no answer" "an intruder's hello to the CURVE parameter server gets no answer"
MAE_CURVE=$K mae-encode -q --ps "tcp://127.0.0.1:$PS" --grad "@tcp://127.0.0.1:$G" -i "$T/b.mae" -o ">tcp://127.0.0.1:$D" &
MAE_CURVE=$K mae-reconstruct -q --ps "tcp://127.0.0.1:$PS" -i "@tcp://127.0.0.1:$D" | mae-loss -q --loss-only > /dev/null
st=$?; wait $ps; st=$((st | $?))
is "$st" 0 "training with the server, gradient and data links on CURVE ends well"
cmp -s "$T/c/checkpoint.safetensors" "$T/one/checkpoint.safetensors"
ok $? "  with mae-train's weights, bit for bit"
like "$(cat "$T/ps.err")" "refused a client from 127.0.0.1" "  and the server logged the intruder"

# 5. MAE_CURVE without the keys a socket needs: a clear error
mkdir -p "$T/half"; cp "$K/server.pub" "$K/client.key" "$T/half/"
msg=$(MAE_CURVE=$T/half mae-inspect -i "@tcp://127.0.0.1:$(free_port)" 2>&1 < /dev/null); st=$?
is "$st" 2 "a host without server.key cannot bind over CURVE: status 2"
like "$msg" "has no server.key: this host cannot bind a tcp:// socket" "  and it says what is missing"
finish
