#!/usr/bin/env bash
# Lab scaling (issue 16, part 2): xdpgraph's bridge on a veth lab this script makes itself, one
# worker against two, 64-byte frames, interleaved rounds; medians and per-round ratios.
#
# Variants (VARIANTS, comma-separated; a round runs each once, in an order that rotates):
#   1q   one worker (`--cores 0`) on veths with one queue; one replay sender, on core 1
#   2q   two workers (`--cores 0,1`) on veths with 2 RX/TX queues; two replay senders, one
#        pinned to each core (on two cores a sender necessarily shares a core with a worker)
# and suffixes for labelled extra rows (never instead of the two above):
#   -notap  the daemon with `--no-tap` (no TAP mirrors: worker 0 then reads no TAPs)
#   -snN    the senders at nice N (the workers keep the daemon's default nice)
#   -wnN    the daemon with `--worker-nice -N`
#   -idle   the senders SCHED_IDLE
#   -thr    threaded NAPI on the ingress veth (a0), queue q's NAPI thread pinned to core q
#   -2snd   (1q) the two senders of 2q
#
# The topology: namespace n0's eth0 = root end a0 --- xdpgraph: a0's ether node and a1's on a
# bridge (br0: link0, link1; setautosrc 0; the receiver's MAC put on link1 with movehost) ---
# root end a1 = namespace n1's eth0, where an XDP program counts and drops what arrives (the
# sink: `xdpgraph gen --rx-only --rx-engine xdp`). xdpgraph runs with the daemon's defaults
# (no busy polling, TAPs, its frame count, its worker nice) except `--fast-path off`: with the
# fast path on, learned unicast is redirected by the XDP program itself and never reaches a
# worker, and the workers are what `--cores` scales.
#
# The sender: `xdpgraph gen --engine replay --rate max` (BPF_PROG_RUN live frames, XDP_TX out of
# n0's eth0, 16 flows). A veth hands an XDP-transmitted frame to its peer's RX queue
# `smp_processor_id() % real_num_rx_queues` (veth_xdp_xmit: veth_select_rxq), whatever the
# flow: one sender thread fills one queue only, hence one sender pinned per core in 2q. (The
# AF_XDP engine's socket is bound to queue 0, and a veth gives an skb its peer's RX queue of
# the skb's TX queue: queue 0 only too.) The per-queue counters are printed for every run.
# Without threaded NAPI, a0's queue q is polled in softirq on the core of the sender that
# filled it (veth schedules the NAPI where it transmits: core q, inside the sender's
# BPF_PROG_RUN call), and n1's queue q where worker q transmits (inside its sendto).
#
# Counted over SECS seconds after WARM seconds of traffic, from the drivers' and the kernel's
# counters: what the senders' veth accepted and refused (tx_queue_N_xdp_xmit[_errors] of n0's
# eth0), what each queue of a0 received (rx_queue_N_xdp_packets) and redirected into the
# workers' sockets, the sockets' and workers' drops (`xdpgraph ctl --json errors`), a1's
# transmit drops, and what reached the sink (rx_queue_N_xdp_packets of n1's eth0, per queue).
# CPU per core from /proc/stat (busy = user+nice+system+irq+softirq+steal), NET_RX softirqs per
# core from /proc/softirqs, and each thread's CPU and the core it last ran on from
# /proc/PID/task/TID/stat (workers, senders, sink, NAPI threads, ksoftirqd).
#
# Env: ROUNDS (5), SECS (5), WARM (2), VARIANTS (1q,2q,1q-notap,2q-notap,2q-sn5,2q-thr,
# 2q-thr-sn5), XDPGRAPH (target/release/xdpgraph), LS_PERF=1 (after the rounds, one more
# measurement of each of LS_PERF_VARIANTS, default 1q,2q, under `perf record -a -g`, its top
# LS_PERF_TOP symbols per core printed; not in the table), LS_KEEP=DIR (keep the raw counter
# snapshots). Root. Names: veths lsPIDa0/a1, namespaces lsPIDn0/n1, removed on exit (a trap,
# also on failure); the run is bounded by a watchdog. Run it on an otherwise quiet machine:
#   ./bench/lab_scaling.sh | tee bench/results/lab-scaling-$(date -u +%Y-%m-%d-%H%M).txt
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "lab_scaling.sh: root required (veths, netns, XDP)" >&2; exit 1; fi
XG=$(realpath "${XDPGRAPH:-target/release/xdpgraph}")
[ -x "$XG" ] || { echo "no $XG: cargo build --release first" >&2; exit 1; }
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-5}
WARM=${WARM:-2}
VARIANTS=${VARIANTS:-1q,2q,1q-notap,2q-notap,2q-sn5,2q-thr,2q-thr-sn5}
[ "$(nproc)" -ge 2 ] || { echo "two cores needed" >&2; exit 1; }

P=ls$$                         # every name this run makes: veths lsPIDa0/a1, netns lsPIDn0/n1
NS0=${P}n0 NS1=${P}n1 A0=${P}a0 A1=${P}a1
SOCK=/tmp/${P}.sock
TMP=$(mktemp -d /tmp/${P}.XXXX)
MAC0=02:6c:73:00:00:01 MAC1=02:6c:73:01:00:01   # the namespace ends (sender, receiver); the
# sender's 16 flows vary the low two bytes of its source MAC: never the receiver's
PIDS=()                        # every process this run started, killed by pid in the trap
WATCHDOG=0

lab_down() {
    ip netns del "$NS0" 2>/dev/null || true
    ip netns del "$NS1" 2>/dev/null || true
    ip link del "$A0" 2>/dev/null || true
    ip link del "$A1" 2>/dev/null || true
}
stop_all() {
    local p
    for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    PIDS=()
}
cleanup() {
    local rc=$?
    # the watchdog: its sleep, then itself
    if [ "$WATCHDOG" -gt 1 ]; then
        kill $(cat /proc/$WATCHDOG/task/$WATCHDOG/children 2>/dev/null) "$WATCHDOG" 2>/dev/null || true
    fi
    stop_all
    lab_down
    rm -f "$SOCK"
    if [ -n "${LS_KEEP:-}" ]; then mkdir -p "$LS_KEEP" && cp -r "$TMP"/. "$LS_KEEP"/; fi
    rm -rf "$TMP"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The whole run is bounded: a measurement takes about WARM+SECS+10 s; a watchdog ends the run
# (the trap cleans up) if it takes more than twice what it should.
bound=$(( ((ROUNDS * $(tr "," "\n" <<<"$VARIANTS" | wc -l) + 4) * (WARM + SECS + 12)) * 2 + 60 ))
( sleep "$bound"; echo "lab_scaling.sh: over its ${bound} s bound, stopping" >&2; kill -TERM $$ ) &
WATCHDOG=$!

# lab_up Q: two veth pairs with Q RX/TX queues on both ends; GRO on at the namespace ends (veth
# NAPI from the start, as `xdpgraph lab up` does); IPv6 off (no stray frames).
lab_up() {
    local q=$1 i ns a mac
    for i in 0 1; do
        ns=${P}n$i a=${P}a$i
        mac=$([ $i = 0 ] && echo $MAC0 || echo $MAC1)
        ip netns add "$ns"
        ip link add "$a" numtxqueues "$q" numrxqueues "$q" type veth \
            peer name "${P}p$i" numtxqueues "$q" numrxqueues "$q" netns "$ns"
        ip -n "$ns" link set "${P}p$i" name eth0
        ip -n "$ns" link set eth0 address "$mac"
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        echo 1 > "/proc/sys/net/ipv6/conf/$a/disable_ipv6"
        ip -n "$ns" link set lo up
        ip -n "$ns" link set eth0 up
        ip netns exec "$ns" ethtool -K eth0 gro on >/dev/null
        ip link set "$a" up
    done
}

ctl() { "$XG" ctl --socket "$SOCK" "$@"; }

# daemon CORES [OPTIONS]: xdpgraph on a0 and a1, the bridge; waits until the control socket answers.
daemon() {
    local cores=$1
    shift
    "$XG" run --iface "$A0" --iface "$A1" --cores "$cores" --fast-path off --socket "$SOCK" "$@" \
        2>"$TMP/daemon.log" &
    DPID=$!
    PIDS+=("$DPID")
    for _ in $(seq 200); do
        ctl status >/dev/null 2>&1 && break
        kill -0 "$DPID" 2>/dev/null || { cat "$TMP/daemon.log" >&2; return 1; }
        sleep 0.05
    done
    ctl -f- >/dev/null <<EOF
msg $A0: setautosrc 0
msg $A1: setautosrc 0
mkpeer $A0: bridge lower link0
name $A0:lower br0
connect $A1: br0: lower link1
msg br0: movehost { addr=$MAC1 hook="link1" }
EOF
}

# threaded_napi: a0's NAPI as kernel threads, queue q's pinned to core q (NAPI ids are handed
# out in queue order when veth enables NAPI, so sorting a0's threads by id gives the queues).
threaded_napi() {
    echo 1 > "/sys/class/net/$A0/threaded"
    local pid name i=0 t
    sleep 0.2
    for t in $(for pid in $(cat /proc/2/task/2/children); do
                   name=$(cat /proc/$pid/comm 2>/dev/null) || continue
                   case $name in "napi/$A0-"*) echo "${name##*-} $pid" ;; esac
               done | sort -n | awk '{print $2}'); do
        taskset -pc "$i" "$t" >/dev/null
        i=$((i + 1))
    done
    [ "$i" -gt 0 ] || { echo "no NAPI threads for $A0" >&2; return 1; }
}

# snapshot FILE: every counter the summary needs, as "key value" lines.
snapshot() {
    {
        echo "time $(date +%s.%N)"
        ethtool -S "$A0" | awk -v d=a0 'NF==2 && $2 ~ /^[0-9]+$/ {sub(":","",$1); print d"."$1, $2}'
        ethtool -S "$A1" | awk -v d=a1 'NF==2 && $2 ~ /^[0-9]+$/ {sub(":","",$1); print d"."$1, $2}'
        ip netns exec "$NS0" ethtool -S eth0 | awk -v d=n0 'NF==2 && $2 ~ /^[0-9]+$/ {sub(":","",$1); print d"."$1, $2}'
        ip netns exec "$NS1" ethtool -S eth0 | awk -v d=n1 'NF==2 && $2 ~ /^[0-9]+$/ {sub(":","",$1); print d"."$1, $2}'
        for k in rx_packets rx_dropped tx_packets tx_dropped; do
            echo "a0.sys_$k $(cat /sys/class/net/$A0/statistics/$k)"
            echo "a1.sys_$k $(cat /sys/class/net/$A1/statistics/$k)"
        done
        for k in rx_packets rx_dropped tx_packets tx_dropped; do
            echo "n1.sys_$k $(ip netns exec "$NS1" cat /sys/class/net/eth0/statistics/$k)"
        done
        awk '/^cpu[0-9]/ {print "stat."$1, $2+$3+$4+$7+$8+$9, $8, $5+$6, $4}' /proc/stat
        awk '/NET_RX|NET_TX/ {n=$1; sub(":","",n); for (i=2;i<=NF;i++) print "softirq."n".cpu"(i-2), $i}' /proc/softirqs
        # threads: workers and senders (our processes), NAPI kernel threads of a0/a1/the ends
        local p t
        for p in "${PIDS[@]}" $(for k in $(cat /proc/2/task/2/children); do
                case $(cat /proc/$k/comm 2>/dev/null) in napi/*|ksoftirqd/*) echo "$k" ;; esac; done); do
            for t in /proc/$p/task/*; do
                [ -r "$t/stat" ] || continue
                awk -v tid="${t##*/}" '{ s=$0; sub(/.*\) /, "", s); split(s, f, " ");
                     c=$0; sub(/^[^(]*\(/, "", c); sub(/\).*/, "", c); gsub(/ /, "_", c);
                     print "thr." c "/" tid, f[12]+f[13], f[37] }' "$t/stat"
            done
        done
        # the daemon's drop reasons (sockets' and workers'), one "drop.<reason...> N" each
        ctl --json errors 2>/dev/null | python3 -c '
import sys, json
for d in json.load(sys.stdin)["drops"]:
    q = d.get("queue")
    qs = "" if q is None else "q%d" % q
    print("drop." + d["node"] + qs + "." + d["reason"], d["count"])'
    } > "$1"
}

# measure VARIANT ROUND: one measurement on a fresh lab; appends a result line to $TMP/results
measure() {
    local v=$1 r=$2 q cores senders=() pre=()
    case ${v%%-*} in
        1q) q=1 cores=0 senders=(1) ;;
        2q) q=2 cores=0,1 senders=(0 1) ;;
        *) echo "unknown variant $v" >&2; return 1 ;;
    esac
    case $v in *-2snd*) senders=(0 1) ;; esac
    case $v in *-idle*) pre=(chrt --idle 0) ;; esac
    # -snN: the senders at nice N; -wnN: the daemon's workers at nice -N (--worker-nice)
    if [[ $v =~ -sn([0-9]+) ]]; then pre=(nice -n "${BASH_REMATCH[1]}"); fi
    local dopts=()
    if [[ $v =~ -wn([0-9]+) ]]; then dopts=(--worker-nice "-${BASH_REMATCH[1]}"); fi
    case $v in *-notap*) dopts+=(--no-tap) ;; esac
    lab_up "$q"
    daemon "$cores" "${dopts[@]}"
    case $v in *-thr*) threaded_napi ;; esac
    local dur=$((WARM + SECS + 3)) c
    # the sink: counts and drops in XDP on n1's eth0 (its thread sleeps; core 1 with the lab's)
    "$XG" gen --tx eth0 --tx-netns "$NS1" --rx eth0 --rx-netns "$NS1" --rx-only --rx-engine xdp \
        --rx-core 1 --duration $((dur + 2)) --quiet --json >"$TMP/sink.json" 2>"$TMP/sink.err" &
    PIDS+=($!)
    sleep 0.5
    for c in "${senders[@]}"; do
        "${pre[@]}" "$XG" gen --tx eth0 --tx-netns "$NS0" --dst-mac "$MAC1" --engine replay --flows 16 \
            --size 64 --rate max --core "$c" --duration "$dur" --quiet --json \
            >"$TMP/send$c.json" 2>"$TMP/send$c.err" &
        PIDS+=($!)
    done
    sleep "$WARM"
    snapshot "$TMP/s0"
    local perf=""
    if [ "$r" = 0 ]; then
        perf record -a -g -o "$TMP/perf-$v.data" -- sleep "$SECS" >/dev/null 2>&1 &
        perf=$!
    fi
    sleep "$SECS"
    snapshot "$TMP/s1"
    [ -n "$perf" ] && wait "$perf" || true
    # the daemon's view of its workers and queues, once per variant
    [ "$r" = 1 ] && ctl status > "$TMP/status-$v.txt" 2>&1 || true
    stop_all
    lab_down
    local res="$TMP/results"
    [ "$r" = 0 ] && res="$TMP/results-profiled"
    python3 - "$v" "$r" "$TMP/s0" "$TMP/s1" "$q" "$res" <<'PY'
import sys, json
v, r, f0, f1, q, res = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
def load(f):
    d = {}
    for l in open(f):
        k, *x = l.split()
        d[k] = [float(y) for y in x]
    return d
a, b = load(f0), load(f1)
dt = b["time"][0] - a["time"][0]
def D(k, i=0):
    return b.get(k, [0] * 4)[i] - a.get(k, [0] * 4)[i]
def S(prefix, suffix, n):
    return sum(D(f"{prefix}{i}{suffix}") for i in range(n))
o = {"variant": v, "round": r, "secs": dt}
o["sent"] = S("n0.tx_queue_", "_xdp_xmit", q) / dt            # a0's ring took
o["refused"] = S("n0.tx_queue_", "_xdp_xmit_errors", q) / dt   # a0's ring full
o["a0_rxq"] = [D(f"a0.rx_queue_{i}_xdp_packets") / dt for i in range(q)]
o["a0_redirect"] = S("a0.rx_queue_", "_xdp_redirect", q) / dt
o["sink_q"] = [D(f"n1.rx_queue_{i}_xdp_packets") / dt for i in range(q)]
o["sink"] = sum(o["sink_q"])
o["a1_tx"] = D("a1.sys_tx_packets") / dt
o["a1_tx_dropped"] = D("a1.sys_tx_dropped") / dt
o["n1_rx_dropped"] = D("n1.sys_rx_dropped") / dt
hz = 100.0
cpu = {}
for c in (0, 1):
    busy, sirq, idle, system = (D(f"stat.cpu{c}", i) for i in range(4))
    t = max(busy + idle, 1)
    cpu[str(c)] = {"busy": 100 * busy / t, "softirq": 100 * sirq / t, "sys": 100 * system / t,
                   "net_rx_per_s": D(f"softirq.NET_RX.cpu{c}") / dt}
o["cpu"] = cpu
thr = []
for k in b:
    if k.startswith("thr.") and k in a:
        p = D(k) / hz / dt * 100
        if p >= 1:
            thr.append((k[4:], round(p), int(b[k][1])))
o["threads"] = sorted(thr, key=lambda x: -x[1])
o["drops"] = {k[5:]: D(k) / dt for k in b if k.startswith("drop.") and D(k) > 0}
open(res, "a").write(json.dumps(o) + "\n")
M = lambda x: f"{x / 1e6:.3f}"
c0, c1 = cpu["0"], cpu["1"]
print(f"{'profiled' if r == 0 else 'round ' + str(r)} {v:8}: sink {M(o['sink'])} Mpps (per queue {'/'.join(M(x) for x in o['sink_q'])}); "
      f"a0 rx per queue {'/'.join(M(x) for x in o['a0_rxq'])}, redirected {M(o['a0_redirect'])}; "
      f"senders' veth accepted {M(o['sent'])}, refused {M(o['refused'])}; "
      f"a1 tx {M(o['a1_tx'])}, tx_dropped {o['a1_tx_dropped']:.0f}/s")
print(f"    cpu0 {c0['busy']:.0f}% busy (sys {c0['sys']:.0f}, softirq {c0['softirq']:.0f}; NET_RX {c0['net_rx_per_s']/1e3:.0f}k/s), "
      f"cpu1 {c1['busy']:.0f}% busy (sys {c1['sys']:.0f}, softirq {c1['softirq']:.0f}; NET_RX {c1['net_rx_per_s']/1e3:.0f}k/s)")
print("    threads (CPU % of one core, core last run on): " + ", ".join(f"{n} {p}% c{c}" for n, p, c in o["threads"]))
if o["drops"]:
    print("    drops/s (ctl errors): " + ", ".join(f"{k} {x:.0f}" for k, x in sorted(o["drops"].items(), key=lambda x: -x[1])))
PY
    if [ -n "$perf" ]; then
        echo "    perf record -a (a measurement of its own, not in the table), top symbols per core (share of the core's samples, thread):"
        for c in 0 1; do
            echo "      core $c:"
            perf report -i "$TMP/perf-$v.data" --no-children --sort comm,sym -C "$c" --stdio -g none 2>/dev/null |
                grep -v '^#' | grep -v '^$' | head -"${LS_PERF_TOP:-15}" | sed 's/^/        /' || true
        done
    fi
}

echo "# bench/lab_scaling.sh at $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src bpf bench 2>/dev/null || echo ' (with uncommitted changes)'), Linux $(uname -r)"
echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, $(lscpu | sed -n 's/^Hypervisor vendor: *//p') guest"
echo "# $XG ($("$XG" --version 2>/dev/null | tr '\n' ' ')); ROUNDS=$ROUNDS SECS=$SECS WARM=$WARM VARIANTS=$VARIANTS; names $P*"
echo "# daemon: xdpgraph run --iface $A0 --iface $A1 --cores 0|0,1 --fast-path off (defaults otherwise); bridge br0 link0=a0 link1=a1, receiver MAC on link1"
echo "# senders: xdpgraph gen --engine replay --flows 16 --size 64 --rate max, one per listed core; sink: gen --rx-only --rx-engine xdp on n1's eth0"
IFS=, read -r -a vs <<<"$VARIANTS"
for r in $(seq "$ROUNDS"); do
    n=${#vs[@]}
    for i in $(seq 0 $((n - 1))); do
        measure "${vs[$(( (i + r - 1) % n ))]}" "$r"
    done
done
if [ "${LS_PERF:-0}" = 1 ]; then
    echo
    echo "## profiled: one more measurement of each of ${LS_PERF_VARIANTS:-1q,2q} under perf record -a -g (perturbed: not in the table)"
    IFS=, read -r -a pvs <<<"${LS_PERF_VARIANTS:-1q,2q}"
    for v in "${pvs[@]}"; do measure "$v" 0; done
fi
echo
echo "## the daemon's status (first round of each variant)"
for v in "${vs[@]}"; do echo "### $v"; cat "$TMP/status-$v.txt" 2>/dev/null; done
echo
python3 - "$TMP/results" "$VARIANTS" <<'PY'
import sys, json, statistics as st, collections
rows = collections.defaultdict(dict)
for l in open(sys.argv[1]):
    o = json.loads(l)
    rows[o["variant"]][o["round"]] = o
order = [v for v in sys.argv[2].split(",") if v in rows]
def med(v, f):
    return st.median(f(o) for o in rows[v].values())
def tsum(o, pre):
    return sum(p for n, p, c in o["threads"] if n.startswith(pre))
def tlist(o, pre):
    return [p for n, p, c in sorted(o["threads"]) if n.startswith(pre)]
base = rows.get("1q", {})
print("Throughput at the sink (64 B, Mpps; the ratio is against 1q of the same round):")
print()
print("| variant | sink Mpps (rounds) | median | vs 1q: median of per-round ratios (range) | ratio of medians | per queue (median) |")
print("|---|---|---:|---:|---:|---|")
for v in order:
    rs = sorted(rows[v])
    runs = ", ".join(f"{rows[v][r]['sink']/1e6:.3f}" for r in rs)
    m = med(v, lambda o: o["sink"]) / 1e6
    per = [rows[v][r]["sink"] / base[r]["sink"] for r in rs if r in base]
    ratio = f"{st.median(per):.2f}x ({min(per):.2f}–{max(per):.2f})" if per else "-"
    rm = f"{m / (med('1q', lambda o: o['sink']) / 1e6):.2f}x" if base else "-"
    nq = len(next(iter(rows[v].values()))["sink_q"])
    pq = " / ".join(f"{med(v, lambda o, i=i: o['sink_q'][i])/1e6:.3f}" for i in range(nq))
    print(f"| {v} | {runs} | {m:.3f} | {ratio} | {rm} | {pq} |")
print()
print("Where the CPU went (medians over the rounds; % of one core; busy = all but idle, of which sys and softirq):")
print()
print("| variant | core 0 busy / sys / softirq | core 1 busy / sys / softirq | workers (each) | senders (each) | a0 NAPI threads | sink Mpps per core of worker time | offered to a0, Mpps | dropped at the sockets' RX rings, Mpps |")
print("|---|---|---|---|---|---|---:|---:|---:|")
for v in order:
    c = lambda k, f: med(v, lambda o: o["cpu"][k][f])
    cores = [f"{c(k,'busy'):.0f} / {c(k,'sys'):.0f} / {c(k,'softirq'):.0f}" for k in ("0", "1")]
    w = med(v, lambda o: tsum(o, "xdpgraph-w"))
    we = " + ".join(f"{x:.0f}" for x in [st.median(tlist(o, "xdpgraph-w")[i] for o in rows[v].values() if len(tlist(o, "xdpgraph-w")) > i) for i in range(max(len(tlist(o, "xdpgraph-w")) for o in rows[v].values()))])
    se = " + ".join(f"{x:.0f}" for x in [st.median(tlist(o, "xdpgraph-gen-tx")[i] for o in rows[v].values() if len(tlist(o, "xdpgraph-gen-tx")) > i) for i in range(max(len(tlist(o, "xdpgraph-gen-tx")) for o in rows[v].values()))])
    napi = med(v, lambda o: tsum(o, "napi/"))
    eff = med(v, lambda o: o["sink"] / 1e6 / max(tsum(o, "xdpgraph-w") / 100, 0.01))
    offered = med(v, lambda o: sum(o["a0_rxq"])) / 1e6
    dropped = med(v, lambda o: sum(x for k, x in o["drops"].items() if k.endswith(".rx_dropped"))) / 1e6
    print(f"| {v} | {cores[0]} | {cores[1]} | {w:.0f} ({we}) | {se} | {napi:.0f} | {eff:.2f} | {offered:.2f} | {dropped:.2f} |")
PY
