#!/bin/sh
# What every stage checks before it acts (issue 29): one endpoint syntax for the data plane and
# the training planes' sockets, tensors' shapes checked before a kernel reads them, a gradient
# route that names a bind refused as bad data, and a stream that cannot be finished (a full
# disk) reported. Each case: the status, and a message that says what and where.
. "$(dirname "$0")/lib.sh"
export OPENBLAS_NUM_THREADS=1 MAE_THREADS=1

# run CMD...: status and stderr of one program, into $st and $msg
run() { "$@" > /dev/null 2> "$T/err"; st=$?; msg=$(cat "$T/err"); }

# ---- endpoints: one parser for data endpoints and plane sockets ----
run mae-inspect -i 'sub:notasocket'
is "$st:$msg" "1:mae-inspect: sub:notasocket: a socket type prefix needs a ZeroMQ address" "a data endpoint: sub: needs a ZeroMQ address"
run mae-encode --ps "@ipc://$T/ps" < /dev/null
is "$st" 1 "a stage given a parameter server to bind: status 1"
like "$msg" "a stage connects to the parameter server; mae-optimize binds" "  and it says who binds"
run mae-encode --ps "$T/ps" < /dev/null
is "$st" 1 "a stage given a file name as the parameter server: status 1"
like "$msg" "$T/ps: not a ZeroMQ address" "  and it says it is no ZeroMQ address"
run mae-optimize -q --ps ">ipc://$T/ps" -m micro-28 --steps 1 -d "$T/o"
is "$st" 1 "mae-optimize told to connect its server socket: status 1"
like "$msg" "mae-optimize binds the parameter server's address" "  and it says the server binds"
run mae-encode --ps "ipc://$T/ps" --grad ">ipc://$T/g" < /dev/null
is "$st" 1 "a gradient port that connects: status 1"
like "$msg" "gradient port >ipc://$T/g: must bind" "  and it says the port must bind"

# ---- shapes before use, routes, a stream that cannot be finished ----
mae-decode -q -n 64 -b 32 -s 3 fashion-mnist:train | mae-patchify -q -p 7 | mae-mask -q -s 3 random > "$T/b.mae" &&
	mae-train -q -m micro-28 --steps 1 -d "$T/ck" -i "$T/b.mae" > /dev/null &&
	mae-encode -q -w "$T/ck/checkpoint.safetensors" < "$T/b.mae" > "$T/lat.mae" &&
	mae-reconstruct -q -w "$T/ck/checkpoint.safetensors" < "$T/lat.mae" > "$T/pred.mae" &&
	mae-loss -q < "$T/pred.mae" > /dev/null
ok $? "a frozen micro-28 encode | reconstruct | loss of two batches"

# alter SRC DST TENSOR rows|route: one row fewer in TENSOR's dimension 1, or a route that binds
cat > "$T/alter.py" <<'PY'
import sys, msgpack
src, dst, name, what = sys.argv[1:5]
recs = list(msgpack.Unpacker(open(src, 'rb'), raw=False, max_buffer_size=1 << 31))
for r in recs:
    t = r.get('tensors', {}).get(name) if isinstance(r, dict) else None
    if t is None:
        continue
    if what == 'rows':
        B, n = t['shape'][0], t['shape'][1]
        row = len(t['data']) // (B * n)
        t['data'] = b''.join(t['data'][b * n * row:(b * n + n - 1) * row] for b in range(B))
        t['shape'][1] = n - 1
    else:
        r['route'] = ['@tcp://127.0.0.1:9']
with open(dst, 'wb') as f:
    for r in recs:
        f.write(msgpack.packb(r, use_bin_type=True))
PY
$PY "$T/alter.py" "$T/pred.mae" "$T/pred-short.mae" pred rows &&
	$PY "$T/alter.py" "$T/lat.mae" "$T/lat-short.mae" latent rows &&
	$PY "$T/alter.py" "$T/pred.mae" "$T/pred-bind.mae" pred route
ok $? "streams with a short pred, a short latent and a route that binds"
run mae-loss -q < "$T/pred-short.mae"
is "$st:$msg" "2:mae-loss: record 1: pred [32,15,49], expected [32,16,49]" \
	"a pred one patch short: mae-loss stops with status 2 before its loss reads it"
run mae-reconstruct -q -w "$T/ck/checkpoint.safetensors" < "$T/lat-short.mae"
is "$st" 2 "a latent one token short: mae-reconstruct stops with status 2 before its decoder reads it"
like "$msg" "record 1: latent \[32,4,32\] does not fit the mask and the model's encoder \(expected \[32,5,32\]\)" \
	"  and it gives both shapes"
run mae-loss -q < "$T/pred-bind.mae"
is "$st" 2 "a gradient route that names an address to bind: status 2 (bad data)"
like "$msg" "@tcp://127.0.0.1:9: a gradient route names an address to connect to, not one to bind" "  and it says why"
run mae-patchify -q -p 7 -i "$T/b.mae"
# (b.mae has patches, not images: the shape message of the one shared helper)
like "$msg" "record 1: no tensor 'image'|record 1: tensor" "mae-patchify names the record and the tensor it lacks"

run mae-loss -q -o /dev/full < "$T/pred.mae"
is "$st" 2 "a stream that cannot be written to the end (/dev/full): status 2"
like "$msg" "mae-loss: /dev/full: write error: No space left on device" "  and it names the endpoint and the error"
finish
