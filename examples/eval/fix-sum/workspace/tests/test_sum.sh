#!/usr/bin/env bash
# Fails (exit 1) unless sum.sh adds.
set -u
cd "$(dirname "$0")/.."
fail=0
for case in "2 3 5" "10 -4 6" "0 0 0"; do
    set -- $case
    got=$(bash sum.sh "$1" "$2")
    if [ "$got" != "$3" ]; then
        echo "sum.sh $1 $2: expected $3, got $got"
        fail=1
    fi
done
exit $fail
