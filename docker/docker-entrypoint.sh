#!/bin/sh
# Runs under pyinit (PID 1).  As root: set up, then become `app` for good.  Started as another
# user already (`docker run --user ...`): nothing to set up, run the command as that user.
set -eu
if [ "$(id -u)" = 0 ]; then
  # A fresh named volume or bind mount arrives owned by root: give it to the app.
  chown app:app /data
  # Switch user and exec in place (same pid, so pyinit's signals reach the program directly).
  # The alternative is `ENTRYPOINT ["docker-entrypoint.sh"]` ending in
  # `exec pyinit --user app -- "$@"`: pyinit takes over this pid and starts the program as app.
  exec pyinit exec --user app -- "$@"
fi
exec "$@"
