#!/usr/bin/env bash
# Prints the sum of two integers.
set -eu
a=$1
b=$2
echo $((a - b))
