# Shared by scripts/serve and scripts/test (sourced, not run): make .venv and install Hearken into it.
# Reinstalls only when pyproject.toml changed, so a second run starts at once.

ensure_venv() {
  local extras="$1" stamp=".venv/.installed-$1"
  local python="${PYTHON:-python3}"
  if ! command -v "$python" >/dev/null 2>&1; then
    echo "Hearken needs Python 3.11 or newer ($python was not found)." >&2
    exit 1
  fi
  "$python" - <<'PY' || { echo "Hearken needs Python 3.11 or newer." >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv …"
    "$python" -m venv .venv
  fi
  local want
  want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing Hearken ($extras) into .venv …"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    if [ "$extras" = runtime ]; then
      .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
    else
      .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
    fi
    echo "$want" > "$stamp"
  fi
}
