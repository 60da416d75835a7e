#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those missing. Idempotent.
#   portaudio19-dev        pyaudio builds against it (microphone and `play`)
#   pulseaudio, libasound2-plugins  a real audio path without a sound card (null sink), for tests/demo
#   socat                  null-modem pty pairs: the real serial link in tests and the demo
#   openssh-server         a loopback sshd that `make deploy` is tested against
#   espeak-ng              speech babble for noise augmentation and evaluation
#   g++                    builds the optional ggwave peer used in evaluation
set -euo pipefail
packages=(portaudio19-dev pulseaudio libasound2-plugins socat openssh-server espeak-ng g++)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "error: need root (or sudo) to apt-get install: ${missing[*]}" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
