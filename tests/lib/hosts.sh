# tests/lib/hosts.sh: real network hosts for shell tests, made of network namespaces.
# Source it after tests/lib.sh (it needs $T, $PY and lib.sh's at_exit), then:
#
#   hosts_available || skip_all "network namespaces: $HOSTS_WHY"
#   hosts_up 3 --ssh                 hosts 1..3 at 10.77.0.11 .. 10.77.0.13, sshd on :22
#   on 3 mae-inspect -i @tcp://10.77.0.13:5601 > "$T/x" & r=$!
#   on 1 mae-synth ... -o ">tcp://10.77.0.13:5601"; wait $r
#   $MAE_SSH 10.77.0.12 mae-inspect -H ...   (ssh works from the test and from any host)
#
# Layout: one namespace per host ("mae<pid>h<k>", device eth0) and one more for the
# bridge ("mae<pid>br", bridge br0 at 10.77.0.1, port h<k> per host), so the root
# namespace is left untouched and tests running in parallel do not collide.
# hosts_up has hosts_down run at the end of the test (lib.sh's at_exit), on every way out.
# Do not replace lib.sh's EXIT trap (add to it with at_exit).
# `on` is a shell function: write `on 1 timeout 30 cmd`, not `timeout 30 on 1 cmd`.

HOSTS_N=0
HOSTS_NAMES=""          # every namespace this process created, deleted by hosts_down
HOSTS_SSHD=""           # pids of our sshd, children of this shell
HOSTS_WHY=""            # why hosts_available / netem_available said no
HOSTS_PFX="mae$$"

_hosts_err() { echo "hosts.sh: $*" >&2; }

# hosts_available: 0 if this machine can create namespaces, veths and bridges for us;
# otherwise the reason goes to stderr and to $HOSTS_WHY.
hosts_available() {
	HOSTS_WHY=""
	if [ "$(id -u)" -ne 0 ]; then HOSTS_WHY="not root"
	elif ! command -v ip > /dev/null; then HOSTS_WHY="no ip command (Debian package iproute2)"
	elif ! ip netns add "${HOSTS_PFX}probe" 2> "$T/.netns-probe"; then
		HOSTS_WHY="ip netns add fails: $(head -1 "$T/.netns-probe")"
	else
		# a namespace alone is not enough: the kernel also needs veth and bridge support
		if ! ip -n "${HOSTS_PFX}probe" link add v0 type veth peer name v1 2> "$T/.netns-probe"; then
			HOSTS_WHY="no veth devices: $(head -1 "$T/.netns-probe")"
		elif ! ip -n "${HOSTS_PFX}probe" link add b0 type bridge 2> "$T/.netns-probe"; then
			HOSTS_WHY="no bridge devices: $(head -1 "$T/.netns-probe")"
		fi
		ip netns del "${HOSTS_PFX}probe"
	fi
	rm -f "$T/.netns-probe"
	[ -z "$HOSTS_WHY" ] && return 0
	_hosts_err "$HOSTS_WHY"
	return 1
}

# hosts_running PID: PID is alive (a zombie nobody reaped yet does not count)
hosts_running() { [ -r "/proc/$1/stat" ] && ! sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'; }

# host_ns K / host_addr K: host K's namespace name / IPv4 address (K = 1..HOSTS_N)
host_ns() {
	case ${1:-} in ''|*[!0-9]*) _hosts_err "no host '${1:-}'"; return 1;; esac
	if [ "$1" -lt 1 ] || [ "$1" -gt "$HOSTS_N" ]; then _hosts_err "no host $1 (have $HOSTS_N)"; return 1; fi
	echo "${HOSTS_PFX}h$1"
}
host_addr() { host_ns "${1:-}" > /dev/null && echo "10.77.0.$((10 + $1))"; }

# on K CMD...: run CMD inside host K.
on() {
	_on_ns=$(host_ns "${1:-}") || return 1
	shift
	# In a subshell (`on 2 cmd &`, a pipeline, $(...)) $! names the subshell, so `kill $!`
	# would leave cmd running. There, run cmd as a child and pass TERM/HUP on to it.
	# Our real pid is read from /proc/self by the shell itself (no fork).
	read -r _on_self _on_rest < /proc/self/stat
	if [ "$_on_self" = "$$" ]; then
		ip netns exec "$_on_ns" "$@"
		return
	fi
	# fd 9 keeps our stdin: sh gives an asynchronous command /dev/null as stdin
	{ ip netns exec "$_on_ns" "$@" <&9 9<&- & } 9<&0
	_on_pid=$!
	trap 'kill -TERM $_on_pid 2>/dev/null' TERM
	trap 'kill -HUP $_on_pid 2>/dev/null' HUP
	# wait returns early when a trapped signal arrives; a zombie still answers kill -0.
	# (2>/dev/null: the caller reports a killed job if it wants to, not us as well)
	while :; do
		wait $_on_pid 2>/dev/null
		_on_st=$?
		kill -0 $_on_pid 2>/dev/null || break
	done
	return $_on_st
}

# hosts_reap: delete namespaces left by a harness whose process is gone (SIGKILL, crash).
# hosts_up calls it; it never touches a namespace whose owner process still exists.
hosts_reap() {
	for _r_ns in $(ip netns list 2>/dev/null | sed -n 's/^\(mae[0-9][0-9]*\(h[0-9][0-9]*\|br\|probe\)\)\( .*\)\{0,1\}$/\1/p'); do
		_r_pid=$(echo "$_r_ns" | sed 's/^mae\([0-9]*\).*/\1/')
		[ -d "/proc/$_r_pid" ] && continue
		ip netns pids "$_r_ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$_r_ns" 2>/dev/null
	done
}

# hosts_up N [--ssh]: N hosts on one bridge; with --ssh an sshd on port 22 of each.
hosts_up() {
	_u_n=${1:-}
	case $_u_n in ''|*[!0-9]*) _hosts_err "usage: hosts_up N [--ssh]"; return 2;; esac
	if [ "$_u_n" -lt 1 ] || [ "$_u_n" -gt 200 ]; then _hosts_err "hosts_up: N must be 1..200"; return 2; fi
	if [ -n "$HOSTS_NAMES" ]; then _hosts_err "hosts_up: hosts are already up"; return 2; fi
	hosts_reap
	_hosts_traps
	_u_br="${HOSTS_PFX}br"
	# the bridge gets 10.77.0.1 so that ssh from the root namespace can be relayed from there
	ip netns add "$_u_br" && HOSTS_NAMES=$_u_br &&
	ip -n "$_u_br" link set lo up &&
	ip -n "$_u_br" link add br0 type bridge forward_delay 0 &&
	ip -n "$_u_br" addr add 10.77.0.1/24 dev br0 &&
	ip -n "$_u_br" link set br0 up || { _hosts_err "hosts_up: cannot make the bridge"; hosts_down; return 1; }
	_u_k=1
	while [ "$_u_k" -le "$_u_n" ]; do
		_u_ns="${HOSTS_PFX}h$_u_k"
		# created inside the bridge namespace, one end moved straight into the host:
		# the veth never has a name in the root namespace
		ip netns add "$_u_ns" && HOSTS_NAMES="$HOSTS_NAMES $_u_ns" &&
		ip -n "$_u_br" link add "h$_u_k" type veth peer name eth0 netns "$_u_ns" &&
		ip -n "$_u_br" link set "h$_u_k" master br0 up &&
		ip -n "$_u_ns" link set lo up &&
		ip -n "$_u_ns" addr add "10.77.0.$((10 + _u_k))/24" dev eth0 &&
		ip -n "$_u_ns" link set eth0 up || { _hosts_err "hosts_up: cannot make host $_u_k"; hosts_down; return 1; }
		_u_k=$((_u_k + 1))
	done
	HOSTS_N=$_u_n
	_u_k=1
	while [ "$_u_k" -le "$_u_n" ]; do
		_hosts_carrier "$_u_k" || { hosts_down; return 1; }
		_u_k=$((_u_k + 1))
	done
	if [ "${2:-}" = --ssh ]; then
		_hosts_sshd || { hosts_down; return 1; }
	elif [ -n "${2:-}" ]; then
		_hosts_err "hosts_up: unknown option '$2'"; hosts_down; return 2
	fi
	return 0
}

# hosts_down runs when the test ends, before lib.sh removes $T (processes in the hosts
# still use files under $T: keys, logs, the relay)
_hosts_traps() {
	[ -n "${_hosts_trapped:-}" ] && return
	_hosts_trapped=1
	at_exit hosts_down
}

# the veth only carries traffic once both ends report carrier; wait for that (bounded)
_hosts_carrier() {
	_c_i=0
	until ip -n "${HOSTS_PFX}h$1" -o link show eth0 | grep -q 'state UP'; do
		_c_i=$((_c_i + 1))
		[ $_c_i -gt 100 ] && { _hosts_err "host $1: eth0 has no carrier after 5 s"; return 1; }
		sleep 0.05
	done
}

# one client key and one host key per test, one sshd per host
_hosts_sshd() {
	for _s_p in /usr/sbin/sshd ssh ssh-keygen; do
		command -v $_s_p > /dev/null || { _hosts_err "--ssh needs $_s_p (Debian packages openssh-server, openssh-client)"; return 1; }
	done
	# sshd refuses to start without its privilege separation directory
	mkdir -p /run/sshd
	_s_d="$T/ssh"
	rm -rf "$_s_d"    # fresh keys for every hosts_up, and ssh-keygen never asks to overwrite
	mkdir -p "$_s_d" && chmod 700 "$_s_d"
	ssh-keygen -q -t ed25519 -N '' -C "maepipe test host" -f "$_s_d/host_key" &&
	ssh-keygen -q -t ed25519 -N '' -C "maepipe test client" -f "$_s_d/id" &&
	cp "$_s_d/id.pub" "$_s_d/authorized_keys" || { _hosts_err "ssh-keygen failed"; return 1; }

	# The root namespace has no route to 10.77.0.0/24 (we add nothing there), so ssh from
	# the test itself goes through a TCP relay run in the bridge namespace; ssh from inside
	# a host connects directly, so link_down / link_shape of that host affect it.
	cat > "$_s_d/relay.py" <<'EOF'
import os, socket, sys, threading
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
except OSError as e:
    sys.exit("relay to %s:%s: %s" % (sys.argv[1], sys.argv[2], e))
s.settimeout(None)
def up():
    while True:
        b = os.read(0, 65536)
        if not b:
            break
        s.sendall(b)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while True:
    b = s.recv(65536)
    if not b:
        break
    while b:
        b = b[os.write(1, b):]
os._exit(0)
EOF
	printf '#!/bin/sh\n! ip netns identify 2>/dev/null | grep -q "^%sh[0-9]*$"\n' "$HOSTS_PFX" > "$_s_d/outside"
	chmod +x "$_s_d/outside"
	cat > "$_s_d/config" <<EOF
Match exec "$_s_d/outside"
	ProxyCommand ip netns exec ${HOSTS_PFX}br $PY $_s_d/relay.py %h %p
Host *
	User root
	IdentityFile $_s_d/id
	IdentitiesOnly yes
	PreferredAuthentications publickey
	BatchMode yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	GlobalKnownHostsFile /dev/null
	LogLevel ERROR
	ConnectTimeout 5
	ControlMaster no
EOF
	MAE_SSH="ssh -F $_s_d/config"
	export MAE_SSH

	_s_k=1
	while [ "$_s_k" -le "$HOSTS_N" ]; do
		# SetEnv: remote commands find the programs under test, as on an installed cluster.
		# SHLVL=1 makes root's bash a nested shell, which skips ~/.bashrc: the developer's
		# own setup (pyenv and the like) would change PATH and cost ~0.5 s per command.
		cat > "$_s_d/sshd.$_s_k.conf" <<EOF
ListenAddress 10.77.0.$((10 + _s_k)):22
HostKey $_s_d/host_key
PidFile $_s_d/sshd.$_s_k.pid
AuthorizedKeysFile $_s_d/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
SetEnv PATH=$MAE_BUILD/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin MAE_BUILD=$MAE_BUILD SHLVL=1
EOF
		# -D: it stays our child, so the poll below sees at once when it dies and
		# hosts_down can reap it; -E: its log (there is no syslog) for error messages
		/usr/sbin/sshd -t -f "$_s_d/sshd.$_s_k.conf" ||
			{ _hosts_err "sshd of host $_s_k: bad configuration"; return 1; }
		ip netns exec "${HOSTS_PFX}h$_s_k" /usr/sbin/sshd -D -f "$_s_d/sshd.$_s_k.conf" -E "$_s_d/sshd.$_s_k.log" &
		HOSTS_SSHD="$HOSTS_SSHD $!"
		_s_k=$((_s_k + 1))
	done
	# ready = a real login works end to end; all hosts polled at once
	_s_pids=""
	_s_k=1
	for _s_p in $HOSTS_SSHD; do
		_hosts_ssh_ready "$_s_k" "$_s_p" & _s_pids="$_s_pids $!"
		_s_k=$((_s_k + 1))
	done
	_s_st=0
	for _s_p in $_s_pids; do wait "$_s_p" || _s_st=1; done
	return $_s_st
}

# _hosts_ssh_ready K PID: poll host K's sshd (process PID) with real logins, ~10 s at most
_hosts_ssh_ready() {
	_r_a="10.77.0.$((10 + $1))"
	_r_i=0
	# -n: a poll must not eat the test's stdin
	until timeout 5 $MAE_SSH -n "$_r_a" true 2> "$T/ssh/poll.$1.err"; do
		_r_i=$((_r_i + 1))
		if ! hosts_running "$2"; then
			_hosts_err "sshd of host $1 ($_r_a) exited:"
			cat "$T/ssh/sshd.$1.log" >&2
			return 1
		elif [ $_r_i -ge 50 ]; then
			_hosts_err "sshd of host $1 ($_r_a) does not accept logins:"
			cat "$T/ssh/poll.$1.err" "$T/ssh/sshd.$1.log" >&2
			return 1
		fi
		sleep 0.1
	done
	rm -f "$T/ssh/poll.$1.err"
}

# hosts_down: end every process inside our namespaces (sshd included), delete them.
# Safe to call more than once; the EXIT trap calls it again.
hosts_down() {
	[ -n "$HOSTS_NAMES" ] || return 0
	[ -n "$HOSTS_SSHD" ] && kill -TERM $HOSTS_SSHD 2>/dev/null
	for _d_ns in $HOSTS_NAMES; do ip netns pids "$_d_ns" 2>/dev/null; done | xargs -r kill -TERM 2>/dev/null
	# give them up to 2 s to go, then no choice
	_d_i=0
	while [ $_d_i -lt 40 ]; do
		_d_left=$(for _d_ns in $HOSTS_NAMES; do ip netns pids "$_d_ns" 2>/dev/null; done)
		[ -z "$_d_left" ] && break
		sleep 0.05
		_d_i=$((_d_i + 1))
	done
	[ -n "$_d_left" ] && echo "$_d_left" | xargs -r kill -KILL 2>/dev/null
	for _d_ns in $HOSTS_NAMES; do ip netns del "$_d_ns" 2>/dev/null; done
	# reap the sshd children, or they stay zombies as long as this shell lives
	for _d_p in $HOSTS_SSHD; do wait "$_d_p" 2>/dev/null; done
	HOSTS_NAMES=""
	HOSTS_SSHD=""
	HOSTS_N=0
	return 0
}

# netem_available: 0 if the kernel has the netem qdisc (delay); reason in $HOSTS_WHY.
netem_available() {
	HOSTS_WHY=""
	tc -n "${HOSTS_PFX}br" qdisc add dev lo root netem delay 1ms 2> /dev/null &&
		tc -n "${HOSTS_PFX}br" qdisc del dev lo root && return 0
	HOSTS_WHY="no netem qdisc in this kernel (CONFIG_NET_SCH_NETEM)"
	return 1
}

# link_shape K DELAY [RATE]: DELAY (e.g. 20ms) and RATE (e.g. 10mbit) on host K's link,
# each way: the egress of both veth ends is shaped, so a round trip through host K's
# link gains 2 x DELAY. Without netem only a rate can be had (DELAY 0, via tbf);
# asking for a delay there fails with status 2.
link_shape() {
	_l_ns=$(host_ns "${1:-}") || return 1
	_l_delay=${2:-0} _l_rate=${3:-}
	for _l_end in "$_l_ns eth0" "${HOSTS_PFX}br h$1"; do
		set -- $_l_end
		if ! tc -n "$1" qdisc replace dev "$2" root netem delay "$_l_delay" ${_l_rate:+rate "$_l_rate"} 2> "$T/.tc.err"; then
			if netem_available; then _hosts_err "link_shape: $(cat "$T/.tc.err")"; return 1; fi
			case $_l_delay in 0|0s|0ms|0us) ;; *) _hosts_err "link_shape: cannot delay: $HOSTS_WHY"; return 2;; esac
			[ -n "$_l_rate" ] || return 0
			tc -n "$1" qdisc replace dev "$2" root tbf rate "$_l_rate" burst 32kb latency 400ms ||
				{ _hosts_err "link_shape: tbf rate $_l_rate failed"; return 1; }
		fi
	done
	rm -f "$T/.tc.err"
}

# link_unshape K: host K's link back to unshaped
link_unshape() {
	_l_ns=$(host_ns "${1:-}") || return 1
	tc -n "$_l_ns" qdisc del dev eth0 root 2>/dev/null
	tc -n "${HOSTS_PFX}br" qdisc del dev "h$1" root 2>/dev/null
	return 0
}

# link_down K / link_up K: unplug / replug host K's cable (its eth0). link_up returns
# once the link carries traffic again.
link_down() { _l_ns=$(host_ns "${1:-}") && ip -n "$_l_ns" link set eth0 down; }
link_up() { _l_ns=$(host_ns "${1:-}") && ip -n "$_l_ns" link set eth0 up && _hosts_carrier "$1"; }

# host_wait_listen K PORT [SECONDS]: wait until something in host K listens on TCP PORT
host_wait_listen() {
	_w_ns=$(host_ns "${1:-}") || return 1
	_w_i=0
	until [ -n "$(ip netns exec "$_w_ns" ss -Htln "sport = :$2")" ]; do
		_w_i=$((_w_i + 1))
		[ $_w_i -gt $((${3:-10} * 20)) ] && { _hosts_err "host $1: nothing listens on port $2"; return 1; }
		sleep 0.05
	done
}
