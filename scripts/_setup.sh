# Sourced by scripts/dev and scripts/test: a Python 3.12+ virtualenv in .venv with the locked
# dependencies (requirements.lock), reinstalled only when the lock changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -x .venv/bin/python ]; then
  PY=""
  for candidate in python3.13 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      PY=$candidate
      break
    fi
  done
  if [ -z "$PY" ]; then
    echo "Callout needs Python 3.12 or newer (Django 6.1); none of python3.13, python3.12, python3 is." >&2
    exit 1
  fi
  "$PY" -m venv .venv
fi

stamp=.venv/.requirements.lock
if ! cmp -s requirements.lock "$stamp"; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
  cp requirements.lock "$stamp"
fi
