#!/bin/sh
# Hostile and broken peers on the parameter plane and on a data socket. A client speaks the
# parameter server's protocol itself (pyzmq and msgpack, nothing of maepipe): it joins as the
# encoder and the decoder and trains three steps on gradients of its own, once cleanly and
# once with every kind of bad message mixed in: garbage bytes, records of the wrong kind,
# messages from a stage that never said hello, a foreign group, a replica out of range, a
# gradient of the wrong shape or type, for a stale or a future step, twice in a step, with a
# NaN or an infinity, a stage posing as another, an unknown operation. Each is refused with a
# logged reason and an error answer, and the server ends with the clean run's weights, bit
# for bit. Then garbage on a data socket: the reader stops with status 2 and says where.
. "$(dirname "$0")/lib.sh"
TRAIN="-s 5 -m micro-28 --steps 3 --warmup 1 --lr 1e-3"

cat > "$T/client.py" <<'PY'
import sys, zmq, msgpack, numpy as np
port, hostile = sys.argv[1], sys.argv[2] == 'hostile'
ctx = zmq.Context()
def sock():
    s = ctx.socket(zmq.DEALER); s.linger = 1000; s.rcvtimeo = 10000
    s.connect('tcp://127.0.0.1:%s' % port)
    return s
def msg(op, group, replica, kind='batch', **kw):
    d = {'type': kind, 'op': op, 'group': group, 'replica': replica}
    d.update(kw)
    return msgpack.packb(d)
def tens(v, dtype='F32'):
    return {'grad': {'dtype': dtype, 'shape': [len(v)], 'data': v.astype('<f4' if dtype == 'F32' else '<f8').tobytes()}}
def grad(group, step, v, dtype='F32', **kw):
    return msg('grad', group, 0, step=step, tensors=tens(v, dtype), **kw)
def answer(s):
    return msgpack.unpackb(s.recv(), raw=False)
refused = []
def refuse(s, body, why):
    s.send(body)
    a = answer(s)
    refused.append('%s: %s' % (why, a['message'] if a.get('op') == 'error' else 'TAKEN ' + a.get('op', '?')))

enc, dec, stranger = sock(), sock(), sock()
enc.send(msg('hello', 'encoder', 0)); ne = answer(enc)['count']
dec.send(msg('hello', 'decoder', 0)); nd = answer(dec)['count']
rng = np.random.default_rng(7)
if hostile:
    refuse(stranger, b'\x93garbage\xff', 'garbage bytes')
    refuse(stranger, msg('hello', 'encoder', 0, kind='header'), 'a header record')
    refuse(stranger, msg('hello', 'encoder', 0, kind='eos'), 'an end-of-stream record')
    refuse(stranger, grad('encoder', 0, np.zeros(ne)), 'a gradient without hello')
    refuse(stranger, msg('hello', 'optimizer', 0), 'a foreign group')
    refuse(stranger, msg('hello', 'encoder', 5), 'a replica out of range')
for step in range(3):
    ge = rng.standard_normal(ne).astype(np.float32) * 1e-2
    gd = rng.standard_normal(nd).astype(np.float32) * 1e-2
    if hostile:
        refuse(enc, grad('encoder', step, ge[:-1]), 'a gradient one short')
        refuse(enc, grad('encoder', step, ge, dtype='F64'), 'a gradient of F64')
        refuse(enc, grad('encoder', step + 1, ge), 'a future step')
        if step > 0:
            refuse(enc, grad('encoder', step - 1, ge), 'a stale step')
        bad = ge.copy(); bad[3] = np.nan
        refuse(enc, grad('encoder', step, bad), 'a NaN')
        bad[3] = np.inf
        refuse(enc, grad('encoder', step, bad), 'an infinity')
        refuse(enc, grad('decoder', step, gd, loss=1.0, images=32), 'the encoder posing as the decoder')
        refuse(dec, grad('decoder', step, gd, loss=float('nan'), images=32), 'a NaN loss')
        refuse(dec, grad('decoder', step, gd, loss=1.0, images=-5), 'negative images')
        refuse(enc, msg('reset', 'encoder', 0), 'an unknown operation')
    enc.send(grad('encoder', step, ge))
    if hostile:
        refuse(enc, grad('encoder', step, ge * 2), 'a second gradient in the step')
    dec.send(grad('decoder', step, gd, loss=1.0, images=32))
    for s in (enc, dec):
        a = answer(s)
        assert a['op'] == 'weights' and a['step'] == step + 1, a
if hostile:
    refuse(stranger, msg('bye', 'decoder', 0), 'a bye from a stranger')
enc.send(msg('bye', 'encoder', 0)); dec.send(msg('bye', 'decoder', 0))
print('\n'.join(refused))
PY

serve() {   # serve NAME MODE: the server, and the client in MODE; the client's lines in NAME.out
	P=$(free_port)
	mkdir -p "$T/$1"
	mae-optimize -q --ps "@tcp://127.0.0.1:$P" --timeout 30 $TRAIN -d "$T/$1" 2> "$T/$1.err" & srv=$!
	timeout 60 $PY "$T/client.py" "$P" "$2" > "$T/$1.out"
	c=$?
	wait $srv
	echo "$c:$?"
}
is "$(serve clean clean)" "0:0" "the clean run: three steps of a client of the protocol's own, server ends well"
is "$(serve hostile hostile)" "0:0" "the hostile run: every bad message answered, server ends well"
cmp -s "$T/clean/checkpoint.safetensors" "$T/hostile/checkpoint.safetensors"
ok $? "the hostile run ends with the clean run's weights, bit for bit"
cmp -s "$T/clean/optim.safetensors" "$T/hostile/optim.safetensors"
ok $? "  and its AdamW state"
is "$(cut -f1,3 "$T/hostile/metrics.tsv" | paste -sd' ')" "$(cut -f1,3 "$T/clean/metrics.tsv" | paste -sd' ')" \
	"  and the same steps and losses in the metrics"
grep -c TAKEN "$T/hostile.out" > "$T/taken"
is "$(cat "$T/taken")" 0 "no bad message was taken"
is "$(wc -l < "$T/hostile.out")" 39 "39 bad messages, each answered with an error"
is "$(grep -c '^mae-optimize: ' "$T/hostile.err")" 39 "  and each refusal logged by the server"
while IFS= read -r want; do
	like "$(cat "$T/hostile.out")" "$want" "refused: ${want%%:*}"
done <<'EOF'
garbage bytes: bad message: 
a header record: a header record is not a parameter-plane message
an end-of-stream record: an end-of-stream record is not a parameter-plane message
a gradient without hello: 'grad' from a stage that did not say hello
a foreign group: message 'hello' with group 'optimizer' replica 0: expected group encoder or decoder
a replica out of range: .*replica 5: expected .* replica 0..0
a gradient one short: encoder gradient must be F32 \[[0-9]*\]
a gradient of F64: encoder gradient must be F32
a future step: encoder replica 0 sent the gradient of step 1 during step 0
a stale step: encoder replica 0 sent the gradient of step 0 during step 1
a NaN: encoder replica 0 sent a gradient with nan at 3 \(step 0\)
an infinity: encoder replica 0 sent a gradient with inf at 3
the encoder posing as the decoder: 'grad' as decoder replica 0 from the stage that joined as encoder replica 0
a NaN loss: decoder replica 0 sent loss nan and 32 images
negative images: decoder replica 0 sent loss 1 and -5 images
an unknown operation: unknown operation 'reset'
a second gradient in the step: encoder replica 0 sent two gradients for step 0
a bye from a stranger: 'bye' from a stage that did not say hello
EOF

# garbage and a record of the wrong kind on a data socket: the reader stops, says where
P=$(free_port)
mae-inspect -i "@tcp://127.0.0.1:$P" > /dev/null 2> "$T/data.err" & rd=$!
$PY - "$P" <<'PY'
import sys, zmq, time
s = zmq.Context().socket(zmq.PUSH); s.linger = 2000
s.connect('tcp://127.0.0.1:%s' % sys.argv[1])
s.send(b'\xc1 not a record at all')
PY
wait $rd
is "$?" 2 "garbage on a data socket: the reader stops with status 2"
like "$(cat "$T/data.err")" "mae-inspect: @tcp://127.0.0.1:$P: .*record" "  and names the socket and the record"
P=$(free_port)
mae-encode -q -w "$T/clean/checkpoint.safetensors" -i "@tcp://127.0.0.1:$P" > /dev/null 2> "$T/kind.err" & rd=$!
timeout 20 mae-synth -n 1 -t x:F32:2,3 -o ">tcp://127.0.0.1:$P" 2> /dev/null
wait $rd
is "$?" 2 "a stream of the wrong kind (no mask, no patches) into mae-encode: status 2"
like "$(cat "$T/kind.err")" "mae-encode: record 1: no tensor 'mask'" "  and it says what is missing, in which record"
finish
