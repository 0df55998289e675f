#!/bin/sh
# Load test of the per-case endpoints; see run_locust.py for the options.
exec python "$(dirname "$0")/run_locust.py" "$@"
