#!/usr/bin/env bash
# Starts JupyterLab from .venv with the dtrain extension on the local backend and prints the
# URL to open. Listens on 127.0.0.1 unless IP is set; PORT defaults to the first free port
# from 8888; JUPYTER_TOKEN, when set, is used as the token (else a random one).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"

IP="${IP:-127.0.0.1}"
PORT="${PORT:-$("$PY" - <<'PYEOF'
import socket
for port in range(8888, 8988):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        break
PYEOF
)}"
[ -n "$PORT" ] || { echo "no free port in 8888-8987; set PORT=..." >&2; exit 1; }
TOKEN="${JUPYTER_TOKEN:-$("$PY" -c 'import secrets; print(secrets.token_hex(24))')}"

EXTRA=()
if [ "$(id -u)" -eq 0 ]; then
    EXTRA+=(--ServerApp.allow_root=True)
fi

URL="http://${IP}:${PORT}/lab?token=${TOKEN}"
cat <<MSG

  dtrain-jupyter: JupyterLab is starting with the Distributed Training extension (local backend).
  Open this URL in your browser:

      ${URL}

  Then click the "Distributed Training" card in the launcher. Stop with Ctrl+C.

MSG
exec "$PY" -m jupyter lab --no-browser --ip="$IP" --port="$PORT" --ServerApp.port_retries=0 \
    --IdentityProvider.token="$TOKEN" --DTrain.backend=local "${EXTRA[@]}"
