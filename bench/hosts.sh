#!/bin/sh
# bench/hosts.sh: the main job's model spread over hosts (issue 23, part 4). Training
# throughput of small-28 with the main job's options (pipelines/main.sh: MAE, 60% masked,
# batch 64, blr 1.2e-2, the same decoding) in these configurations, rounds interleaved:
#   1 host     the whole pipeline as one shell pipeline, as pipelines/pretrain.sh runs it
#              (the reference); and the 2-host placement below run by launch.sh with
#              transport local on this machine (TCP over the loopback, no namespace, no ssh)
#   2 hosts    data stages on h1; the model stages and the server on h2
#   3 hosts    data stages and the server on h1, encode on h2, reconstruct and loss on h3
#              (the weights, the latent and its gradient cross the network)
#   both of those again with every host's link shaped (netem: RATE, DELAY each way; where
#              the kernel has no netem, tbf: RATE alone)
#   replicas   R = 2 data-parallel replicas on h1 and h2 (batches of 64 each), the server on
#              h3, against one replica (h1, server on h3): with the default threads and with
#              MAE_THREADS=1
# The hosts are network namespaces with sshd (tests/lib/hosts.sh), and every run on them
# goes through pipelines/launch.sh with transport ssh. Throughput is taken from
# mae-optimize's metrics.tsv over the steps after WARM. Bytes a step on every link are
# measured (TCP connections' counters by plane, ss -ti; each host's eth0 counters; see
# watch_run) and computed from the model's shapes; then, on paper, what that traffic means
# for 8 and 64 real hosts at 10 and 100 Gbit/s.
#
# usage: sh bench/hosts.sh        (as root: namespaces, tc, sshd; with build/ built)
# env:   STEPS (60) steps a run, REPS (3) rounds, WARM (10) steps left out of the timing,
#        RATE (1gbit), DELAY (0.2ms) of a shaped link; MAE_KEEP_BENCH=1 keeps the scratch
#        directory. 6 to 9 minutes on 2 cores.
. "$(dirname "$0")/lib.sh"
me=hosts.sh
STEPS=${STEPS:-60} REPS=${REPS:-3} WARM=${WARM:-10} RATE=${RATE:-1gbit} DELAY=${DELAY:-0.2ms}
LAUNCH=$here/pipelines/launch.sh

die() { echo "$me: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (it makes network namespaces, veth links, netem shaping and runs sshd in them): run it as root, e.g. sudo sh bench/hosts.sh"
for p in mae-decode mae-patchify mae-mask mae-encode mae-reconstruct mae-loss mae-optimize mae-inspect; do
	command -v $p > /dev/null || die "$p not found in $MAE_BUILD/bin: run make first"
done
[ -x /usr/sbin/sshd ] || die "no sshd (Debian package openssh-server)"
for p in ip tc ss bc; do command -v $p > /dev/null || die "no $p (Debian packages iproute2, bc)"; done
[ "$STEPS" -ge $((WARM + 10)) ] || die "STEPS ($STEPS) must be at least WARM + 10 ($((WARM + 10)))"

T=$(mktemp -d "${TMPDIR:-/tmp}/mae-bench-hosts.XXXXXX")
LPID="" LOCALPG="" WPID="" POLLPID=""
# (tests/lib/hosts.sh puts hosts_down in front of this: every process in the hosts, sshd
# included, ends and the namespaces go; then the launcher, the local run and $T)
trap 'kill $WPID $POLLPID 2>/dev/null; [ -n "$LPID" ] && kill -TERM $LPID 2>/dev/null; [ -n "$LOCALPG" ] && kill -TERM -$LOCALPG 2>/dev/null; if [ -n "${MAE_KEEP_BENCH:-}" ]; then echo "# kept $T" >&2; else rm -rf "$T"; fi' EXIT
. "$here/tests/lib/hosts.sh"
hosts_available || die "network namespaces: $HOSTS_WHY"
hosts_up 3 --ssh || die "could not bring up three namespace hosts with sshd"
# without netem (this kernel may lack it) a link can be given its rate (tbf) but no delay
netem=1
netem_available || { netem=0 DELAY=0; echo "$me: $HOSTS_WHY: the shaped links get their rate (tbf) and no delay" >&2; }

# ---- the main job's training options (pipelines/main.sh through pipelines/pretrain.sh) ----
model=small-28 seed=1 batch=64 blr=1.2e-2 ratio=0.6
config=$(mae-optimize --show-config -m "$model,mode=mae") || die "mae-optimize --show-config failed"
field() { echo "$config" | tr ',' '\n' | sed -n "s/^$1=//p"; }
patch=$(field patch)
DECODE="mae-decode -q -s $seed -b $batch --last drop --shuffle --flip 0.5"   # + -n N [--shard] fashion-mnist:train
MASK="mae-mask -q -s $seed random -r $ratio"
OPT="-s $seed -m $model,mode=mae --steps $STEPS --warmup $WARM --blr $blr --batch $batch --timeout 120"

now() { date +%s.%N; }
# the last step in a metrics.tsv (0 before the first)
laststep() { awk -F'\t' 'END { print ($1 ~ /^[0-9]+$/) ? $1 : 0 }' "$1" 2> /dev/null || echo 0; }
# img/s over the steps after WARM: rate METRICS IMAGES_PER_STEP
rate() { awk -F'\t' -v w="$WARM" -v ips="$2" 'NR > 1 { if ($1 == w) t0 = $7; last = $1; t1 = $7 }
	END { if (t1 > t0) printf "%.1f\n", (last - w) * ips / (t1 - t0); else print 0 }' "$1"; }
# median min max of the numbers on stdin
stats() { sort -g | awk '{ a[NR] = $1 } END { printf "%s %s %s\n", a[int((NR + 1) / 2)], a[1], a[NR] }'; }

# What the links carry, measured three ways during a namespace run:
#  - ss -ti of every host when the server has finished step WARM and step STEPS-3 (a and b):
#    each TCP connection's bytes acked, for the planes that move once a step in lockstep
#    with it (weights, gradients, the latent and its gradient), over that window;
#  - the data links (mask -> encode) run ahead of the steps, by as many records as the
#    sockets' buffers hold (the whole of a short run), so a window says nothing there: their
#    sender's connection is polled every 0.25 s for its last count, over the whole run;
#  - every host's eth0 counters before and after the whole run (the link itself: headers,
#    the weights each stage gets when it joins, ssh and all).
eth() { ip netns exec "$(host_ns $1)" cat /sys/class/net/eth0/statistics/rx_bytes /sys/class/net/eth0/statistics/tx_bytes | paste -sd' '; }
watch_run() {   # watch_run DIR HOSTS...
	_w_d=$1; shift
	for _w_m in a b; do
		if [ $_w_m = a ]; then _w_want=$WARM; else _w_want=$((STEPS - 3)); fi
		until [ "$(laststep "$_w_d/ckpt/metrics.tsv")" -ge $_w_want ]; do sleep 0.2; done
		_w_s0=$(laststep "$_w_d/ckpt/metrics.tsv")
		for _w_k in "$@"; do ip netns exec "$(host_ns $_w_k)" ss -tinH > "$_w_d/snap.$_w_m.h$_w_k"; done
		echo "$_w_s0 $(laststep "$_w_d/ckpt/metrics.tsv")" > "$_w_d/snap.$_w_m.steps"
	done
}
poll_links() {   # poll_links DIR: the connections out of each mae-mask to another host
	sed -n "s/^\[h\([0-9]*\) .*mae-mask -o '>tcp:\/\/[0-9.]*:\([0-9]*\)'.*/\1 \2/p" "$1/plan" > "$1/links"
	[ -s "$1/links" ] || return 0
	while :; do
		while read -r _p_k _p_port; do   # (one process a poll: the raw lines, read at the end)
			_p_v=$(ip netns exec "${HOSTS_PFX}h$_p_k" ss -tinH "dport = :$_p_port")
			[ -n "$_p_v" ] && echo "$_p_v" > "$1/poll.$_p_port"
		done < "$1/links"
		sleep 0.25
	done
}

# ---- the runs ------------------------------------------------------------------------------
# run_local ID: the reference, one shell pipeline in this machine's own namespace (its own
# session, so that the EXIT trap can stop all of it)
run_local() {
	d=$T/$1.$round; mkdir -p "$d"
	t0=$(now)
	setsid sh -c "mae-optimize --ps @ipc://$d/ps $OPT -d $d/ckpt & p=\$!
		$DECODE -n $((batch * STEPS)) fashion-mnist:train | mae-patchify -q -p $patch | $MASK |
		mae-encode -q --ps ipc://$d/ps | mae-reconstruct -q --ps ipc://$d/ps |
		mae-loss -q --loss-only > /dev/null || { kill \$p; exit 2; }
		wait \$p" 2> "$d/err" &
	LOCALPG=$!
	watch_run "$d" & WPID=$!   # (no hosts to read: the same polling as the other runs)
	wait $LOCALPG; st=$?; LOCALPG=""
	echo "$(now) - $t0" | bc > "$d/wall"
	kill $WPID 2>/dev/null; wait $WPID 2>/dev/null; WPID=""
	[ $st = 0 ] || { sed 's/^/    /' "$d/err" >&2; die "the one-host run failed (status $st)"; }
}
# run_hosts ID HOSTS...: the placement whose stage and server lines are in $d/body (the
# run's directory, from newrun ID), through the launcher over ssh; HOSTS: those to watch
newrun() { d=$T/$1.$round; mkdir -p "$d"; }
# With no HOSTS: transport local, every host this machine (127.0.0.1), nothing to read.
run_hosts() {
	id=$1; shift
	{
		if [ $# = 0 ]; then
			echo "transport local"
			for k in 1 2 3; do echo "host h$k 127.0.0.1"; done
			echo "port $lport"; lport=$((lport + 10))
		else
			echo "transport ssh"
			for k in 1 2 3; do echo "host h$k $(host_addr $k)"; done
			echo "port $port"; port=$((port + 10))
		fi
		echo "dir $T"
		cat "$d/body"
	} > "$d/place"
	"$LAUNCH" -n "$d/place" > "$d/plan" || die "launch.sh -n $d/place failed"
	for k in "$@"; do echo "h$k $(eth $k)"; done > "$d/eth.0"
	t0=$(now)
	"$LAUNCH" "$d/place" 2> "$d/err" & LPID=$!
	watch_run "$d" "$@" & WPID=$!
	[ $# = 0 ] || { poll_links "$d" & POLLPID=$!; }
	wait $LPID; st=$?; LPID=""
	echo "$(now) - $t0" | bc > "$d/wall"
	kill $WPID $POLLPID 2>/dev/null; wait $WPID $POLLPID 2>/dev/null; WPID="" POLLPID=""
	for k in "$@"; do echo "h$k $(eth $k)"; done > "$d/eth.1"
	[ $st = 0 ] || { tail -n 20 "$d/err" | sed 's/^/    /' >&2; die "$id failed (launch.sh status $st)"; }
}
data_stages() {   # data_stages HOSTS [SHARD]: the decoder, patchify, mask lines
	echo "stage decode $1 $DECODE -n ${3:-$((batch * STEPS))} ${2:+--shard $2} fashion-mnist:train"
	echo "stage patchify $1 mae-patchify -q -p $patch"
	echo "stage mask $1 $MASK"
}
model_stages() {   # model_stages ENCODE_HOSTS DECODE_HOSTS
	echo "stage encode $1 mae-encode -q"
	echo "stage reconstruct $2 mae-reconstruct -q"
	echo "stage loss $2 mae-loss -q --loss-only -o /dev/null"
}
shaped() {   # shaped on|off HOSTS...
	_s_on=$1; shift
	for _s_k in "$@"; do
		if [ "$_s_on" = on ]; then link_shape $_s_k "$DELAY" "$RATE" || die "link_shape $_s_k $DELAY $RATE failed"
		else link_unshape $_s_k; fi
	done
}
# (the server without -q, as pipelines/pretrain.sh runs it)
cfg_2h() {   # cfg_2h ID [local]
	newrun "$1"
	{ data_stages h1; model_stages h2 h2; echo "server h2 mae-optimize $OPT -d $d/ckpt"; } > "$d/body"
	if [ -n "${2:-}" ]; then run_hosts "$1"; else run_hosts "$1" 1 2; fi
}
cfg_3h() {
	newrun "$1"
	{ data_stages h1; model_stages h2 h3; echo "server h1 mae-optimize $OPT -d $d/ckpt"; } > "$d/body"
	run_hosts "$1" 1 2 3
}
cfg_rep() {   # cfg_rep ID R THREADS: R replicas on h1[,h2], each its own batches of 64, server on h3
	hs=h1; [ "$2" = 2 ] && hs=h1,h2
	sh=""; [ "$2" = 2 ] && sh="{copy}/{copies}"
	newrun "$1"
	{
		[ -n "$3" ] && echo "env MAE_THREADS=$3"
		data_stages $hs "$sh" $((batch * STEPS * $2)); model_stages $hs $hs
		echo "server h3 mae-optimize $OPT -d $d/ckpt"
	} > "$d/body"
	if [ "$2" = 2 ]; then run_hosts "$1" 1 2 3; else run_hosts "$1" 1 3; fi
}

if [ $netem = 1 ]; then
	shaping="$RATE, $DELAY"
	shaping_long="netem on both ends of every host's veth, $RATE and $DELAY each way (host to host: $RATE, 2 x $DELAY one way)"
else
	shaping="$RATE, no delay"
	shaping_long="tbf at $RATE on both ends of every host's veth, no delay (this kernel has no netem qdisc)"
fi
# the configurations, in the order of every round; their labels; images a step
CFGS="local l2h 2h 2hs 3h 3hs r1 r2 r1t1 r2t1"
label() {
	case $1 in
	local) echo "1 host: one shell pipeline (reference)" ;;
	l2h) echo "1 host, launch.sh transport local (as 2h)" ;;
	2h) echo "2 hosts: data | model+server" ;;
	2hs) echo "2 hosts, links shaped ($shaping)" ;;
	3h) echo "3 hosts: data+server | encode | rec+loss" ;;
	3hs) echo "3 hosts, links shaped ($shaping)" ;;
	r1) echo "1 replica (h1), server on h3" ;;
	r2) echo "2 replicas (h1, h2), server on h3" ;;
	r1t1) echo "1 replica, MAE_THREADS=1" ;;
	r2t1) echo "2 replicas, MAE_THREADS=1 each" ;;
	esac
}
ips() { case $1 in r2|r2t1) echo $((batch * 2)) ;; *) echo $batch ;; esac; }

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
ncpu=$(nproc)
core=$(OPENBLAS_VERBOSE=2 mae-optimize --show-config -m "$model" 2>&1 >/dev/null | sed -n 's/^Core: //p')
start=$(now)
echo "$me: $REPS rounds of: $CFGS ($STEPS steps each); progress on stderr" >&2
port=5700 lport=29700   # (namespace hosts; this machine's loopback)
round=1
while [ $round -le "$REPS" ]; do
	for c in $CFGS; do
		case $c in
		local) run_local local ;;
		l2h) cfg_2h l2h local ;;
		2h) cfg_2h 2h ;;
		2hs) shaped on 1 2; cfg_2h 2hs; shaped off 1 2 ;;
		3h) cfg_3h 3h ;;
		3hs) shaped on 1 2 3; cfg_3h 3hs; shaped off 1 2 3 ;;
		r1) cfg_rep r1 1 "" ;;
		r2) cfg_rep r2 2 "" ;;
		r1t1) cfg_rep r1t1 1 1 ;;
		r2t1) cfg_rep r2t1 2 1 ;;
		esac
		r=$(rate "$T/$c.$round/ckpt/metrics.tsv" "$(ips $c)")
		echo "$r" > "$T/$c.$round/rate"
		printf '%s: round %d/%d: %-44s %7.1f img/s  (%.1f s)\n' "$me" $round "$REPS" "$(label $c)" "$r" "$(cat "$T/$c.$round/wall")" >&2
	done
	round=$((round + 1))
done
elapsed=$(echo "$(now) - $start" | bc)

# ---- the throughput table ------------------------------------------------------------------
med() { for r in $(seq 1 "$REPS"); do cat "$T/$1.$r/$2"; done | stats; }
# the ratios of A to B round by round (each against the run next to it in time), median min max
rel() { for r in $(seq 1 "$REPS"); do echo "$(cat "$T/$1.$r/rate") / $(cat "$T/$2.$r/rate")" | bc -l; done | stats; }
echo "# $me: $model (MAE, ${ratio} masked, batch $batch a replica, blr $blr: the main job's options), $STEPS steps a run."
echo "# img/s over steps $((WARM + 1))-$STEPS (metrics.tsv), median of $REPS interleaved rounds [min-max]; /1 host: the median"
echo "# of each round's own ratio to its 1-host run [min-max]; wall: a whole run, start-up included (ssh, weights)."
echo "# $cpu, $ncpu cores; OpenBLAS core ${core:-?}${OPENBLAS_CORETYPE:+ (OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE from the environment, passed to every host)};"
echo "# MAE_THREADS ${MAE_THREADS:-default ($ncpu)}; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
echo "# The namespace hosts are one machine: every host's processes share the same $ncpu cores, so more hosts"
echo "# add no compute here, only the network path (veth, bridge, TCP) and ssh. A shaped link: $shaping_long."
printf '%-42s %7s %11s %7s %13s %6s\n' configuration img/s "[min-max]" "/1 host" "[min-max]" "wall s"
for c in $CFGS; do
	set -- $(med $c rate); m=$1 lo=$2 hi=$3
	set -- $(rel $c local); q=$1 qlo=$2 qhi=$3
	set -- $(med $c wall)
	printf '%-42s %7.1f %11s %7.2f %13s %6.1f\n' "$(label $c)" "$m" "[$(printf '%.0f-%.0f' "$lo" "$hi")]" "$q" \
		"[$(printf '%.2f-%.2f' "$qlo" "$qhi")]" "$1"
done
echo
echo "data parallel, 2 replicas against 1 (each round's own ratio, median [min-max]; the goal: >= 0.9 R = 1.8"
echo "where the link is not the bound):"
set -- $(rel r2 r1)
printf '  default threads  %.2fx [%.2f-%.2f], %.1f img/s a replica against %.1f for one\n' "$1" "$2" "$3" \
	"$(echo "$(med r2 rate | cut -d' ' -f1) / 2" | bc -l)" "$(med r1 rate | cut -d' ' -f1)"
set -- $(rel r2t1 r1t1)
printf '  MAE_THREADS=1    %.2fx [%.2f-%.2f] = %.2f R, %.1f img/s a replica against %.1f for one\n' "$1" "$2" "$3" \
	"$(echo "$1 / 2" | bc -l)" "$(echo "$(med r2t1 rate | cut -d' ' -f1) / 2" | bc -l)" "$(med r1t1 rate | cut -d' ' -f1)"
echo "  The replicas' hosts share the same $ncpu cores. With the default threads ($ncpu a replica) a second"
echo "  replica only fills the time one leaves the cores idle (its stages waiting on each other and on the"
echo "  server): that ratio says how busy one replica keeps the machine, not how R hosts scale. With one"
echo "  thread each, two replicas have a core each: the nearest figure to R hosts here, though the data"
echo "  stages, the server and ssh still take their share of the same two cores (and so do other jobs)."

# ---- bytes per step ------------------------------------------------------------------------
# the shapes: a masked batch, the latent, the parameter groups
hidden=$(mae-decode -q -s $seed -n $batch -b $batch fashion-mnist:train | mae-patchify -q -p $patch | $MASK | mae-inspect -H |
	sed -n 's/.*hidden:\([0-9]*\).*/\1/p')
# (mae-optimize says: small-28 (mae), 1301648 parameters (encoder 1192192), ...)
params=$(sed -n 's/.* \([0-9]*\) parameters (encoder \([0-9]*\)).*/\1 \2/p' "$T/local.1/err" | head -1)
[ -n "$params" ] || die "no parameter count in mae-optimize's messages ($T/local.1/err)"
set -- $(med r1 rate); tc=$(echo "$batch / $1" | bc -l)
set -- $(med 3h rate); t3=$(echo "$batch / $1" | bc -l)
set -- $(med 3hs rate); t3s=$(echo "$batch / $1" | bc -l)
# the time a step the shaped links add, round by round
set -- $(for r in $(seq 1 "$REPS"); do echo "$batch / $(cat "$T/3hs.$r/rate") - $batch / $(cat "$T/3h.$r/rate")" | bc -l; done | stats)
t3d=$1
cat > "$T/bytes.py" <<'PY'
# bytes a step on each link: measured (see watch_run, poll_links) and computed from shapes;
# then the paper estimate for R replicas on real hosts
import os, re, shlex, statistics, sys
(T, reps, cfgs, steps, B, N, P, D, hidden, n_all, n_enc, rate_s, tc, t3, t3s, window, t3d) = sys.argv[1:18]
reps, steps, B, N, P, D, hidden, n_all, n_enc = map(int, (reps, steps, B, N, P, D, hidden, n_all, n_enc))
tc, t3, t3s, t3d, cfgs = float(tc), float(t3), float(t3s), float(t3d), cfgs.split()
Tlat = 1 + N - hidden
rec = B * N * P * 4 + B * N + B * 4 + B * 8          # patches F32, mask U8, label I32, index I64
lat = B * Tlat * D * 4                                 # latent F32 [B, T, D]
size = {'encoder': 4 * n_enc, 'decoder': 4 * (n_all - n_enc)}

def kb(x): return '%.1f kB' % (x / 1e3) if abs(x) < 1e6 else '%.2f MB' % (x / 1e6)
def opt(cmd, o): return cmd[cmd.index(o) + 1] if o in cmd else None
def port(ep): return int(ep.rsplit(':', 1)[1])

def plan(d):
    """the flows a run's plan implies: {(port, src, dst): [what, bytes a step, kind]}; kind
    'data' for the links out of mae-mask (they run ahead of the steps), else 'step'"""
    addr = {}
    for line in open(d + '/place'):
        w = line.split()
        if w and w[0] == 'host': addr[w[2]] = w[1]
    procs = []
    for line in open(d + '/plan'):
        host, lab, pipe = re.match(r'\[(\S+) (\S+)\]\t(.*)', line.rstrip('\n')).groups()
        procs.append((host, lab.rsplit('.', 1)[-1], [shlex.split(c) for c in pipe.split(' | ')]))
    flows, links, server = {}, {}, None
    rec_host = {}
    for host, copy, cmds in procs:
        for c in cmds:
            prog, i, o = os.path.basename(c[0]), opt(c, '-i'), opt(c, '-o')
            if prog == 'mae-optimize': server = (host, port(opt(c, '--ps')))
            if prog == 'mae-reconstruct': rec_host[copy] = host
            if i and i.startswith('@tcp'): links.setdefault(port(i), {})['dst'] = host
            if o and o.startswith('>tcp'):
                m = prog == 'mae-mask'
                links.setdefault(port(o), {}).update(src=host, what='records' if m else 'records + latent',
                                                     bytes=rec if m else rec + lat, kind='data' if m else 'step')
    for p, l in links.items(): flows[(p, l['src'], l['dst'])] = [l['what'], l['bytes'], l['kind']]
    for host, copy, cmds in procs:
        for c in cmds:
            prog, ps, g = os.path.basename(c[0]), opt(c, '--ps'), opt(c, '--grad')
            if g: flows[(port(g), rec_host[copy], host)] = ['gradient of the latent', lat, 'step']
            if ps and prog in ('mae-encode', 'mae-reconstruct') and host == server[0]:
                flows[(server[1], host, host)] = ['the parameter plane', 0, 'step']
            elif ps and prog in ('mae-encode', 'mae-reconstruct'):
                grp = 'encoder' if prog == 'mae-encode' else 'decoder'
                for key, what in (((server[1], host, server[0]), 'gradients'), ((server[1], server[0], host), 'weights')):
                    f = flows.setdefault(key, [what, 0, 'step', []])
                    f[1] += size[grp]; f[3].append(grp)
    for f in flows.values():
        if len(f) == 4: f[0] = '%s (%s)' % (f[0], '+'.join(f[3])); del f[3]
    return addr, flows

def measured(d, addr, flows):
    """bytes a step by flow, and by host (eth0: rx, tx), of one run"""
    ports = {k[0] for k in flows}
    out = {}
    try:
        s = {m: [float(x) for x in open('%s/snap.%s.steps' % (d, m)).read().split()] for m in 'ab'}
        n = sum(s['b']) / 2 - sum(s['a']) / 2
        acked = {}
        for m in 'ab':
            acked[m] = {}
            for h in sorted(set(addr.values())):
                f = '%s/snap.%s.%s' % (d, m, h)
                if not os.path.exists(f): continue
                cur = None
                for line in open(f):
                    w = line.split()
                    if not w: continue
                    if not line[0].isspace() and len(w) >= 5: cur = (w[3], w[4])
                    elif cur:
                        a = re.search(r'bytes_acked:(\d+)', line)
                        acked[m][(h,) + cur] = int(a.group(1)) if a else 0
        for key, b in acked['b'].items():
            h, loc, peer = key
            lp, (pa, pp) = int(loc.rsplit(':', 1)[1]), peer.rsplit(':', 1)
            p = lp if lp in ports else int(pp) if int(pp) in ports else None
            if p is None or key not in acked['a']: continue
            k = (p, h, addr.get(pa, pa))
            out[k] = out.get(k, 0) + (b - acked['a'][key]) / n
    except (OSError, ValueError, ZeroDivisionError):
        pass
    for key, f in flows.items():     # the data links: their whole run, polled
        if f[2] == 'data':
            try: out[key] = sum(int(x) for x in re.findall(r'bytes_acked:(\d+)', open('%s/poll.%d' % (d, key[0])).read())) / steps
            except (OSError, ValueError): out.pop(key, None)
    eth = {}
    try:
        e0 = {l.split()[0]: l.split()[1:] for l in open(d + '/eth.0')}
        for l in open(d + '/eth.1'):
            h, rx, tx = l.split()
            eth[h] = ((int(rx) - int(e0[h][0])) / steps, (int(tx) - int(e0[h][1])) / steps)
    except (OSError, KeyError, ValueError):
        pass
    return out, eth

names = {'2h': '2 hosts', '3h': '3 hosts', 'r2': '2 replicas'}
print()
print('bytes a step on each link between hosts, measured (median of the rounds) against the model\'s shapes:')
print('  records: a masked batch, %d x %d patches of %d floats + mask, label, index = %s'
      % (B, N, P, kb(rec)))
print('  latent: %d x %d x %d floats (cls + %d visible tokens) = %s, and as much for its gradient'
      % (B, Tlat, D, N - hidden, kb(lat)))
print('  weights or gradients: encoder %d parameters = %s, decoder %d = %s'
      % (n_enc, kb(size['encoder']), n_all - n_enc, kb(size['decoder'])))
print('measured: ss -ti, each TCP connection\'s bytes acked, over steps %s; the records (*), which run ahead'
      % window)
print('of the steps by what the sockets buffer, over the whole run / %d steps' % steps)
print('%-12s %-32s %-8s %11s %11s %7s' % ('run', 'plane', 'link', 'measured', 'computed', 'ratio'))
host_rows = []
for c in ('2h', '3h', 'r2'):
    if c not in cfgs: continue
    addr, flows = plan('%s/%s.1' % (T, c))
    runs = [measured('%s/%s.%d' % (T, c, r), addr, flows) for r in range(1, reps + 1)]
    local = []
    for key in sorted(flows, key=lambda k: (flows[k][2] != 'data', k[0], k[1])):
        what, want, kind = flows[key]
        if key[1] == key[2]:
            local.append(what); continue
        got = [r[0][key] for r in runs if key in r[0]]
        g = statistics.median(got) if got else float('nan')
        print('%-12s %-32s %-8s %11s %11s %7.3f' % (names[c], what + (' *' if kind == 'data' else ''),
              '%s->%s' % key[1:], kb(g), kb(want), g / want))
    if local:
        print('%-12s %s' % ('', 'on one host, no link: ' + ', '.join(local)))
    for h in sorted(set(addr.values())):
        tx = sum(f[1] for (p, s, t), f in flows.items() if s == h and t != h)
        rx = sum(f[1] for (p, s, t), f in flows.items() if t == h and s != h)
        e = [r[1][h] for r in runs if h in r[1]]
        if e:
            host_rows.append((names[c], h, statistics.median(x[1] for x in e), tx, statistics.median(x[0] for x in e), rx))
print()
print('each host\'s link, bytes a step: eth0 counters over the whole run / %d steps (payload, TCP/IP headers,' % steps)
print('the weights each stage gets when it joins, ssh) against the sum of the computed planes through it')
print('%-12s %-5s %11s %11s %7s %11s %11s %7s' % ('run', 'host', 'tx', 'computed', 'ratio', 'rx', 'computed', 'ratio'))
for n, h, etx, tx, erx, rx in host_rows:
    r = lambda a, b: '%7.3f' % (a / b) if b else '%7s' % '-'
    print('%-12s %-5s %11s %11s %s %11s %11s %s' % (n, h, kb(etx), kb(tx), r(etx, tx), kb(erx), kb(rx), r(erx, rx)))

# ---- on paper ----
Pb = 4 * n_all
print()
print('on paper: R data-parallel replicas on R real hosts and one parameter server, as above. Each step')
print('every replica pushes its gradients (P = 4 bytes x %d parameters = %s) and pulls the new weights'
      % (n_all, kb(Pb)))
print('(P again); its records stay on its host. The server\'s link carries R x P in, then R x P out, and')
print('neither overlaps the compute (the update needs every gradient, the next forward the new weights):')
print('    t_link(R) = 2 R P / bandwidth,   t_step(R) = t_c + t_link(R),   speed-up(R) = R t_c / t_step(R)')
print('t_c = %.1f ms: one replica\'s step here (batch %d, the 1-replica run above). A faster host has a smaller'
      % (tc * 1e3, B))
print('t_c and scales worse, the link time being the same. A replica\'s own link carries 2P a step, R times less.')
print('%5s %18s %14s %18s %14s' % ('R', 'at 10 Gbit/s: link', 'speed-up', 'at 100 Gbit/s: link', 'speed-up'))
for R in (1, 2, 8, 64):
    row = []
    for bw in (10e9, 100e9):
        tl = 2 * R * Pb * 8 / bw
        sp = R * tc / (tc + tl)
        row += ['%.1f ms' % (tl * 1e3), '%.1f (%.0f%%)' % (sp, 100 * sp / R)]
    print('%5d %18s %14s %18s %14s' % (R, *row))
print('0.9 R takes t_link <= t_c / 9, a server link of at least 18 R P / t_c: %s'
      % ', '.join('%.0f Gbit/s for R = %d' % (18 * R * Pb * 8 / tc / 1e9, R) for R in (8, 64)))
m = re.match(r'([0-9.]+)([kmg]?)bit$', rate_s.lower())
if m and t3s > 0:
    bps = float(m.group(1)) * {'': 1, 'k': 1e3, 'm': 1e6, 'g': 1e9}[m.group(2)]
    crit = size['encoder'] + size['decoder'] + rec + lat + lat + size['encoder']
    print('check at %s: in a 3-host step, the bytes that cross one after another (the server\'s weights and the records'
          % rate_s)
    print('out of h1, the latent, its gradient, the encoder\'s gradients: %s) predict +%.1f ms a step; measured'
          % (kb(crit), crit * 8 / bps * 1e3))
    print('%.1f -> %.1f ms a step (medians; each round\'s own difference: +%.1f ms, median)' % (t3 * 1e3, t3s * 1e3, t3d * 1e3))
PY
$PY "$T/bytes.py" "$T" "$REPS" "$CFGS" "$STEPS" "$batch" "$(( $(field img_h) / patch * $(field img_w) / patch ))" \
	"$((patch * patch * $(field channels)))" "$(field dim)" "$hidden" $params "$RATE" "$tc" "$t3" "$t3s" \
	"$((WARM))-$((STEPS - 3))" "$t3d" || echo "$me: the bytes analysis failed" >&2
echo
echo "# $me took $(printf '%.0f' "$elapsed") s for the runs"
