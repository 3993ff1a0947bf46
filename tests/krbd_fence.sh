#!/usr/bin/env bash
# Never two writers on the real kernel RBD client (issue 15): tests/guest/fence.sh in
# the User-Mode Linux guest, bundled and started as tests/krbd.sh does.
KRBD_GUEST=fence.sh exec bash "$(dirname "$0")/krbd.sh"
