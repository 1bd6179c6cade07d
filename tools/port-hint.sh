#!/usr/bin/env bash
# tools/port-hint.sh STAGE ARGS... - after `make run` failed: when its port (-p N in ARGS,
# else 8080) is in use, say how to pick another through make. Linux: /proc/net/tcp{,6}.
stage=$1
shift
port=8080
while [ $# -gt 0 ]; do
    case $1 in
        -p) port=${2:-8080}; shift ;;
        -p[0-9]*) port=${1#-p} ;;
    esac
    shift
done
hex=$(printf '%04X' "$port" 2>/dev/null) || exit 0
# a listening socket (state 0A) on that port, any address
if cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" { found = 1 } END { exit !found }'; then
    echo "Port $port is in use (another server, or another stage still running). Stop it, or pick"
    echo "another port: make run STAGE=${stage%%-*} ARGS=\"-p $((port + 1))\" (and open http://127.0.0.1:$((port + 1))/)."
fi
