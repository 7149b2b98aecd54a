"""The real gateways tokenstorm's tests, benches and users put in front of the mock: one config
template per gateway (``nginx.conf``, ``haproxy.cfg``, ``envoy.yaml``, ``litellm.yaml``) and
one launcher (``launch.py``, behind the one-line ``<gateway>.sh``). Standard library only, so
the launchers run with any ``python3``; ``.ci/gateways.sh`` installs the gateways themselves."""
