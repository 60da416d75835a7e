#!/usr/bin/env bash
# `make deploy`: install melodypair on devices over ssh with Ansible (device/deploy/playbook.yml).
#
#   DEVICE=user@host[:port]  one device (as root: no sudo needed; another user needs sudo)
#   INVENTORY=FILE           many devices (see device/deploy/inventory.example.ini)
#   WHEEL=FILE               deploy this wheel instead of building one from the work tree
# Other arguments go to ansible-playbook, e.g. `-e melodypair_manage_service=false` or
# `--private-key KEY` (make deploy passes DEPLOY_ARGS).
#
# The wheel is built from the files git sees (tracked and untracked, not ignored) with fixed
# timestamps, so the same sources give the same wheel and a second deploy changes nothing.
# Exit codes: 0 deployed, 1 failed, 2 usage.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: make deploy DEVICE=user@host[:port] | INVENTORY=FILE [WHEEL=FILE] [DEPLOY_ARGS='ansible-playbook options']"

usage_error() {
    [ -n "${1:-}" ] && echo "deploy: $1" >&2
    echo "$usage" >&2
    exit 2
}
fail() {
    echo "deploy: $1" >&2
    exit 1
}

DEVICE=${DEVICE:-}
INVENTORY=${INVENTORY:-}
WHEEL=${WHEEL:-}
[ -z "$DEVICE" ] && [ -z "$INVENTORY" ] && usage_error ""
[ -n "$DEVICE" ] && [ -n "$INVENTORY" ] && usage_error "give DEVICE or INVENTORY, not both"

venv=${VENV:-$repo/.venv}
python=$venv/bin/python
ansible_playbook=$venv/bin/ansible-playbook
[ -x "$python" ] || fail "no virtual environment at $venv: run make setup"
[ -x "$ansible_playbook" ] || ansible_playbook=$(command -v ansible-playbook) ||
    fail "ansible-playbook not found: pip install ansible-core (the melodypair[deploy] extra)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -n "$DEVICE" ]; then
    # user@host, user@host:port, user@[v6addr]:port
    if [[ ! "$DEVICE" =~ ^([A-Za-z0-9._][A-Za-z0-9._-]*)@(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:([0-9]{1,5}))?$ ]]; then
        usage_error "DEVICE must look like user@host or user@host:port, not '$DEVICE'"
    fi
    user=${BASH_REMATCH[1]}
    host=${BASH_REMATCH[2]}
    port=${BASH_REMATCH[4]:-22}
    ((port >= 1 && port <= 65535)) || usage_error "DEVICE: port $port is not from 1 to 65535"
    host=${host#[}
    host=${host%]}
    inventory=$work/inventory.ini
    become=""
    [ "$user" = root ] && become=" ansible_become=false"
    # Debian's own Python: the one that runs Ansible's modules and creates the release venvs.
    printf '[devices]\ndevice ansible_host=%s ansible_port=%s ansible_user=%s%s %s\n' \
        "$host" "$port" "$user" "$become" "ansible_python_interpreter=/usr/bin/python3" \
        >"$inventory"
else
    [ -f "$INVENTORY" ] || usage_error "INVENTORY: no such file: $INVENTORY"
    inventory=$INVENTORY
fi

if [ -z "$WHEEL" ]; then
    echo "deploy: building the wheel" >&2
    src=$work/src
    mkdir -p "$src" "$work/dist"
    if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
            while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
            tar --null -T - -cf -) | tar -xf - -C "$src"
    else
        (cd "$repo" && tar --exclude=./.venv --exclude=./build --exclude=./dist -cf - .) |
            tar -xf - -C "$src"
    fi
    if ! SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-315532800} "$python" -m pip wheel --no-deps \
        --disable-pip-version-check -q -w "$work/dist" "$src" >"$work/build.log" 2>&1; then
        cat "$work/build.log" >&2
        fail "building the wheel failed"
    fi
    built=("$work"/dist/melodypair-*.whl)
    mkdir -p "$repo/dist"
    mv -f "${built[0]}" "$repo/dist/"
    WHEEL=$repo/dist/$(basename "${built[0]}")
    echo "deploy: built $WHEEL" >&2
fi
[ -f "$WHEEL" ] || fail "no wheel at $WHEEL"
WHEEL=$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")

"$python" -c 'import json, sys; print(json.dumps({"melodypair_wheel": sys.argv[1]}))' \
    "$WHEEL" >"$work/vars.json"

export ANSIBLE_CONFIG=${ANSIBLE_CONFIG:-$repo/device/deploy/ansible.cfg}
status=0
"$ansible_playbook" -i "$inventory" -e "@$work/vars.json" "$@" \
    "$repo/device/deploy/playbook.yml" || status=$?
[ "$status" -eq 0 ] || fail "ansible-playbook failed (exit $status): see the messages above"
