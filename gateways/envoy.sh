#!/bin/sh
# envoy in front of the mock: python3 -m gateways.launch envoy --help says the options.
PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m gateways.launch envoy "$@"
