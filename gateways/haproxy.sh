#!/bin/sh
# haproxy in front of the mock: python3 -m gateways.launch haproxy --help says the options.
PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m gateways.launch haproxy "$@"
