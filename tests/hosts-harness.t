#!/bin/sh
# The network-namespace harness itself (tests/lib/hosts.sh): hosts with their own
# addresses that reach each other over TCP, loopback isolation, sshd on every host,
# link shaping and unplugging, and cleanup on every way out, SIGTERM included.
. "$(dirname "$0")/lib.sh"
. "$TDIR/lib/hosts.sh"
hosts_available || skip_all "network namespaces: $HOSTS_WHY"

# net.py: a tiny TCP server/client for the checks below
#   serve ADDR PORT       per connection: "echo" echoes, "sink N" reads N bytes, "source N" sends N
#   probe ADDR PORT       exit 0 if a connection opens within 1 s
#   rtt ADDR PORT         best of 10 one-byte round trips, in ms
#   up|down ADDR PORT N   seconds to send N bytes to / receive N bytes from the server
cat > "$T/net.py" <<'PY'
import socket, sys, threading, time
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def conn():
    s = socket.create_connection((addr, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
def readn(s, n):
    while n > 0:
        b = s.recv(min(n, 1 << 16))
        if not b: raise SystemExit("short read")
        n -= len(b)
def handle(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = c.makefile('rb'); cmd = f.readline().split()
    if not cmd: return c.close()   # a probe
    if cmd[0] == b'echo':
        while True:
            b = f.read1(1)
            if not b: break
            c.sendall(b)
    elif cmd[0] == b'sink':
        n = int(cmd[1])
        while n > 0:
            b = f.read1(1 << 16)
            if not b: break
            n -= len(b)
        c.sendall(b'ok\n')
    elif cmd[0] == b'source':
        c.sendall(bytes(int(cmd[1])))
    c.close()
if mode == 'serve':
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port)); l.listen(16)
    while True:
        threading.Thread(target=handle, args=(l.accept()[0],), daemon=True).start()
elif mode == 'probe':
    try: socket.create_connection((addr, port), timeout=1).close()
    except OSError: sys.exit(1)
elif mode == 'rtt':
    s = conn(); s.sendall(b'echo\n'); best = 1e9
    for i in range(10):
        t = time.monotonic(); s.sendall(b'x'); readn(s, 1)
        best = min(best, time.monotonic() - t)
    print('%.3f' % (best * 1000))
elif mode in ('up', 'down'):
    n = int(sys.argv[4]); s = conn(); t = time.monotonic()
    if mode == 'up':
        s.sendall(b'sink %d\n' % n + bytes(n)); readn(s, 3)
    else:
        s.sendall(b'source %d\n' % n); readn(s, n)
    print('%.3f' % (time.monotonic() - t))
PY
net() { $PY "$T/net.py" "$@"; }
# awk compares numbers: ge A B / lt A B
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
# namespaces of harness process PID (ip netns list complains when another test deletes one meanwhile)
nscount() { ip netns list 2>/dev/null | grep -c "^mae$1\(h[0-9]*\|br\)\( \|\$\)"; }
tap_skip() { TESTS=$((TESTS + 1)); echo "ok $TESTS # skip $1"; }

start=$(date +%s.%N)
hosts_up 3 --ssh; st=$?
ok $st "hosts_up 3 --ssh"
[ $st -eq 0 ] || { echo "Bail out! hosts_up failed"; exit 1; }
is "$HOSTS_N" 3 "HOSTS_N is 3"

# --- each host is its own machine with its own address
for k in 1 2 3; do
	is "$(on $k ip netns identify)" "$(host_ns $k)" "on $k runs inside namespace $(host_ns $k)"
	is "$(on $k ip -4 -o addr show dev eth0 | awk '{print $4}')" "10.77.0.1$k/24" "host $k has address 10.77.0.1$k on eth0"
	is "$(host_addr $k)" "10.77.0.1$k" "host_addr $k"
done
is "$(nscount $$)" 4 "exactly 3 host namespaces and 1 bridge namespace exist"
ip -o link show | grep -Eq ' (h[0-9]+|br0)[@:]'; is $? 1 "nothing was added to the root namespace"
host_ns 4 2>/dev/null; is $? 1 "host_ns refuses a host that does not exist"

# --- host 1 streams to hosts 2 and 3 over real TCP, with maepipe's own programs
synth="mae-synth -s 7 -n 30 -t x:F32:8,32,32:randn -t index:I64:8:iota"
on 1 $synth > "$T/src.mae"
mae-inspect -c < "$T/src.mae" | grep ' seq=' > "$T/src.txt"
is "$(wc -l < "$T/src.txt")" 30 "reference stream written to a file in host 1 has 30 batches"
for k in 2 3; do
	on $k timeout 30 mae-inspect -c -i "@tcp://10.77.0.1$k:5601" > "$T/tcp$k.txt" & r=$!
	on 1 timeout 30 $synth -o ">tcp://10.77.0.1$k:5601"; ok $? "host 1 sends the stream to host $k's address"
	wait $r; ok $? "host $k receives it and exits 0"
	grep ' seq=' "$T/tcp$k.txt" | cmp -s - "$T/src.txt"; ok $? "host $k got every batch of host 1, intact and in order"
done

# --- isolation: every host has its own loopback
on 3 $PY "$T/net.py" serve 0.0.0.0 5602 & srv3=$!
host_wait_listen 3 5602; ok $? "a listener on host 3, port 5602, on all addresses"
on 1 $PY "$T/net.py" probe 10.77.0.13 5602; ok $? "host 1 reaches it at 10.77.0.13"
on 1 $PY "$T/net.py" probe 127.0.0.1 5602; is $? 1 "host 1's 127.0.0.1:5602 is not host 3's"
net probe 127.0.0.1 5602; is $? 1 "nor is the root namespace's 127.0.0.1:5602"
kill $srv3; wait $srv3 2>/dev/null
sleep 0.1
[ -z "$(on 3 ss -Htln 'sport = :5602')" ]; ok $? "kill of a background 'on 3 ...' job stops the command inside"

on 1 $PY "$T/net.py" serve 127.0.0.1 5603 & srv1=$!
host_wait_listen 1 5603; ok $? "a listener on host 1's loopback, port 5603"
on 1 $PY "$T/net.py" probe 127.0.0.1 5603; ok $? "host 1 itself reaches it on 127.0.0.1"
is "$(on 2 ss -Htln 'sport = :5603')" "" "host 2 does not see host 1's loopback socket"
on 2 $PY "$T/net.py" probe 127.0.0.1 5603; is $? 1 "host 2 cannot connect to it on 127.0.0.1"
kill $srv1; wait $srv1 2>/dev/null

# --- ssh: a real sshd per host; from the test process and from inside a host
for k in 1 2 3; do
	out=$($MAE_SSH 10.77.0.1$k ip -4 -o addr show 2>&1)
	like "$out" "inet 10\.77\.0\.1$k/24" "ssh 10.77.0.1$k runs in a host with that address"
	is "$(printf '%s\n' "$out" | grep -c 'inet 10\.77')" 1 "and only that one"
	is "$($MAE_SSH 10.77.0.1$k ip netns identify 2>&1)" "$(host_ns $k)" "ssh 10.77.0.1$k lands in namespace $(host_ns $k)"
done
is "$(on 1 $MAE_SSH 10.77.0.13 ip netns identify 2>&1)" "$(host_ns 3)" "ssh from inside host 1 to host 3 (direct, no relay)"
$MAE_SSH 10.77.0.12 $synth | mae-inspect -c | grep ' seq=' | cmp -s - "$T/src.txt"
ok $? "a stream made on host 2 comes back whole through ssh (remote PATH has the build)"
ssh-keygen -q -t ed25519 -N '' -f "$T/stranger"
grep -v IdentityFile "$T/ssh/config" > "$T/stranger.config"
ssh -F "$T/stranger.config" -i "$T/stranger" 10.77.0.12 true 2> "$T/stranger.err"; st=$?
[ $st -ne 0 ]; ok $? "ssh with a key that is not authorized is refused"
like "$(cat "$T/stranger.err")" "Permission denied \(publickey\)" "and the server offers no other method (no passwords)"
is "$($MAE_SSH 10.77.0.12 'echo $PATH' | cut -d: -f1)" "$MAE_BUILD/bin" "remote commands get the build first on PATH, not ~/.bashrc's"

# --- link shaping
on 2 $PY "$T/net.py" serve 10.77.0.12 5604 & srv2=$!
host_wait_listen 2 5604
base=$(on 1 $PY "$T/net.py" rtt 10.77.0.12 5604)
lt "$base" 20; ok $? "unshaped round trip host 1 -> host 2 is under 20 ms (${base} ms)"
if netem_available; then
	link_shape 2 20ms; ok $? "link_shape 2 20ms"
	rtt=$(on 1 $PY "$T/net.py" rtt 10.77.0.12 5604)
	ge "$rtt" 20; ok $? "with 20 ms on host 2's link a round trip takes >= 20 ms (${rtt} ms)"
	link_unshape 2
	rtt=$(on 1 $PY "$T/net.py" rtt 10.77.0.12 5604)
	lt "$rtt" 20; ok $? "after link_unshape it is fast again (${rtt} ms)"
else
	echo "# $HOSTS_WHY: delay checks skipped"
	link_shape 2 20ms 2>/dev/null; is $? 2 "link_shape with a delay fails clearly where netem is missing"
	tap_skip "$HOSTS_WHY"
	tap_skip "$HOSTS_WHY"
fi
# rate: 400 kB at 8 mbit/s is 0.4 s, each way
link_shape 2 0 8mbit; ok $? "link_shape 2 0 8mbit"
t_up=$(on 1 $PY "$T/net.py" up 10.77.0.12 5604 400000)
t_down=$(on 1 $PY "$T/net.py" down 10.77.0.12 5604 400000)
ge "$t_up" 0.35; ok $? "400 kB into host 2 at 8 mbit/s takes >= 0.35 s (${t_up} s)"
ge "$t_down" 0.35; ok $? "400 kB out of host 2 is shaped too (${t_down} s)"
link_unshape 2
t_up=$(on 1 $PY "$T/net.py" up 10.77.0.12 5604 400000)
lt "$t_up" 0.2; ok $? "unshaped again (${t_up} s)"

# --- unplugging
link_down 2; ok $? "link_down 2"
on 1 $PY "$T/net.py" probe 10.77.0.12 5604; is $? 1 "host 2 is unreachable while its link is down"
on 1 $PY "$T/net.py" probe 10.77.0.13 22; ok $? "while host 1 still reaches host 3 (its sshd)"
link_up 2; ok $? "link_up 2"
on 1 $PY "$T/net.py" probe 10.77.0.12 5604; ok $? "host 2 is reachable again"
kill $srv2; wait $srv2 2>/dev/null

# --- a test killed with SIGTERM leaves nothing behind
cat > "$T/child.sh" <<EOF
. "$TDIR/lib.sh"
. "$TDIR/lib/hosts.sh"
hosts_up 2 --ssh || exit 1
echo "\$\$ \$T" > "$T/child.up"
on 1 sleep 60 & wait     # in a host, so that hosts_down has a process to end
EOF
# TMPDIR: the children's own $T lives in ours, so even a SIGKILLed one leaves no litter
TMPDIR=$T sh "$T/child.sh" > /dev/null & child=$!
i=0; while [ ! -s "$T/child.up" ] && [ $i -lt 300 ] && kill -0 $child 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
read -r cpid ct < "$T/child.up" 2>/dev/null
is "${cpid:-}" "$child" "a second test process brings up 2 hosts with sshd"
is "$(nscount $child)" 3 "its 2 host namespaces and its bridge exist"
sshd_pids=$(cat "$ct"/ssh/sshd.*.pid 2>/dev/null | tr '\n' ' ')
is "$(echo $sshd_pids | wc -w)" 2 "its two sshd run (pids $sshd_pids)"
kill -TERM $child
i=0; while kill -0 $child 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
wait $child; is $? 143 "it exits on SIGTERM with status 143"
is "$(nscount $child)" 0 "and leaves no namespace behind"
alive=0; for p in $sshd_pids; do hosts_running $p && alive=1; done
is $alive 0 "and no sshd of it survives"
[ ! -e "$ct" ]; ok $? "lib.sh's own EXIT trap still ran (its \$T is gone)"

# --- a SIGKILLed one cannot clean up; hosts_reap (run by every hosts_up) does
cat > "$T/child2.sh" <<EOF
. "$TDIR/lib.sh"
. "$TDIR/lib/hosts.sh"
hosts_up 1 || exit 1
touch "$T/child2.up"
exec sleep 60
EOF
TMPDIR=$T sh "$T/child2.sh" > /dev/null & child=$!
i=0; while [ ! -e "$T/child2.up" ] && [ $i -lt 300 ] && kill -0 $child 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
kill -KILL $child; wait $child 2>/dev/null
is "$(nscount $child)" 2 "a SIGKILLed test leaves its namespaces"
hosts_reap
is "$(nscount $child)" 0 "hosts_reap removes them"
is "$(nscount $$)" 4 "and leaves the namespaces of a live test alone"

# --- our own hosts_down
sshd_pids=$(cat "$T"/ssh/sshd.*.pid | tr '\n' ' ')
on 3 sleep 60 & stray=$!
hosts_down; ok $? "hosts_down"
is "$(nscount $$)" 0 "no namespace of this test is left"
alive=0; for p in $sshd_pids; do hosts_running $p && alive=1; done
is $alive 0 "no sshd of this test is left"
wait $stray; st=$?
[ $st -ne 0 ]; ok $? "a process still running in a host was ended (status $st)"
is "$HOSTS_N" 0 "HOSTS_N is 0 again"
hosts_down; ok $? "hosts_down twice is harmless"
echo "# took $(echo "$(date +%s.%N) $start" | awk '{printf "%.1f", $1 - $2}') s"
finish
