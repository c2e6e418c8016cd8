#!/usr/bin/env bash
# Write fresh secrets for `docker compose` to .env.compose (or $1): the gateway token, the
# operator token, the Standard Webhooks secret (whsec_ + base64 of 32 random bytes), the Fernet key that encrypts
# cached API keys, and Flower's basic-auth login. A value already in the file is kept, so
# re-running never rotates a secret behind the fleet's back. Prints the names it wrote, never
# the values.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-.env.compose}"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] && python=.venv/bin/python
touch "$target"
chmod 600 "$target"
"$python" - "$target" <<'PY'
import base64, secrets, sys
from pathlib import Path

path = Path(sys.argv[1])
present = {line.split("=", 1)[0].strip() for line in path.read_text().splitlines() if "=" in line}
fresh = {
    "GATEWAY_API_TOKEN": secrets.token_urlsafe(32),
    "OPERATOR_API_TOKEN": secrets.token_urlsafe(32),
    "WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "CACHE_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "FLOWER_BASIC_AUTH": "admin:" + secrets.token_urlsafe(16),
}
written = [name for name in fresh if name not in present]
with path.open("a") as out:
    for name in written:
        out.write(f"{name}={fresh[name]}\n")
print(f"{path}: wrote {', '.join(written) or 'nothing (all present)'}")
PY
