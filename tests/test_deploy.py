"""`make deploy` for real: Ansible over ssh to a loopback sshd, into a target root in tmp.

The deploys run scripts/deploy.sh (what `make deploy` calls) from a frozen copy of the work
tree, so files edited meanwhile cannot change the wheel between two deploys. systemd does not run
here, so the service steps are skipped by `melodypair_manage_service=false`, and the tests check
that the play says so. The device's dependencies come from a wheelhouse built once (it needs
the package registry the first time) and cached in the project's venv.
"""

import base64
import grp
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

pytest_plugins = ["sshd_fixture"]  # the sshd fixture

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)
# The real selftest (model, bundled sample, key store); no sound card here, so no audio check.
SELFTEST_NOW = (
    "{{ melodypair_current }}/venv/bin/melodypair device selftest "
    "--config {{ melodypair_config_file }} --json --no-audio"
)
BROKEN_MESSAGE = "melodypair: error: this release is deliberately broken"
_DEPLOY_ENV_VARS = ("DEVICE", "INVENTORY", "WHEEL")


def _flat(text: str) -> str:
    """Output with every run of whitespace as one space (Ansible wraps long lines)."""
    return " ".join(text.split())


def _recap(output: str) -> dict[str, int]:
    line = re.search(r"^device\s+:\s+(ok=.*)$", output, re.MULTILINE)
    assert line, output
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line.group(1))}


def _sha12(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    """Wheels of the device's dependencies (core + the device extra), cached under the venv."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = sorted(project["dependencies"] + project["optional-dependencies"]["device"])
    key_text = json.dumps([requirements, sys.version_info[:2], platform.machine()])
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    cache = VENV / "deploy-wheelhouse" / key
    if not (cache / ".complete").exists():
        partial = cache.with_name(f"{key}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "-w", str(partial), *requirements],
            check=True,
            timeout=600,
        )
        (partial / ".complete").touch()
        shutil.rmtree(cache, ignore_errors=True)
        partial.rename(cache)
    return cache


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory) -> Path:
    """The files git sees, copied into a fresh git work tree (deploy.sh builds from such files)."""
    dest = tmp_path_factory.mktemp("src")
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listing.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    return dest


@pytest.fixture(scope="module")
def deployer(sshd, source_tree, wheelhouse, tmp_path_factory):
    """deploy(wheel=None, **vars) -> CompletedProcess: one run of deploy.sh to the sshd."""
    work = tmp_path_factory.mktemp("deploy")
    target = work / "target"
    control = work / "cp"
    env = {k: v for k, v in os.environ.items() if k not in _DEPLOY_ENV_VARS}
    env.update(
        VENV=str(VENV),
        ANSIBLE_HOME=str(work / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(work / "ansible-local"),
        ANSIBLE_REMOTE_TMP=str(work / "ansible-remote"),
        ANSIBLE_SSH_CONTROL_PATH_DIR=str(control),
        ANSIBLE_NOCOLOR="1",
    )
    base_vars = {
        "root": str(target),
        "melodypair_manage_service": False,
        "melodypair_skip_packages": True,
        # Nothing outside the target root changes: no system user; the selftest runs as us
        # (through runuser, as on a device, when we are root: only root may use it).
        "melodypair_create_user": False,
        "melodypair_user": sshd.user,
        "melodypair_group": grp.getgrgid(os.getegid()).gr_name,
        "melodypair_selftest_user": sshd.user if os.geteuid() == 0 else "",
        "melodypair_pip_args": f"--no-index --find-links {wheelhouse}",
        "melodypair_selftest_cmd": SELFTEST_NOW,
        "melodypair_keep_releases": 1,
    }

    def deploy(
        wheel: Path | None = None, inventory: Path | None = None, **extra_vars
    ) -> subprocess.CompletedProcess:
        vars_file = work / "vars.json"
        vars_file.write_text(json.dumps({**base_vars, **extra_vars}))
        run_env = dict(env, DEVICE=sshd.destination)
        if inventory:
            run_env = dict(env, INVENTORY=str(inventory))
        if wheel:
            run_env["WHEEL"] = str(wheel)
        return subprocess.run(
            [
                str(source_tree / "scripts" / "deploy.sh"),
                "-e",
                f"@{vars_file}",
                "--private-key",
                str(sshd.client_key),
                f"--ssh-common-args={' '.join(sshd.ssh_options)}",
            ],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
        )

    deploy.work = work
    deploy.target = target
    deploy.home = target / "opt" / "melodypair"
    deploy.wheel = source_tree / "dist" / "melodypair-0.1.0-py3-none-any.whl"
    yield deploy
    for socket_path in control.glob("*") if control.exists() else ():
        subprocess.run(
            ["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "device"],
            capture_output=True,
            timeout=10,
            check=False,
        )


STALE_RELEASE = "0.0.9-000000000000"


@pytest.fixture(scope="module")
def first_deploy(deployer):
    """The first deploy, which builds the wheel from the source tree, onto a target that has
    an old release left over (to be pruned: the tests keep only one release besides current)."""
    stale = deployer.home / "releases" / STALE_RELEASE
    (stale / "venv").mkdir(parents=True)
    (stale / ".installed").write_text(STALE_RELEASE + "\n")
    os.utime(stale, (1_600_000_000, 1_600_000_000))
    result = deployer()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def _broken_wheel(wheel: Path, directory: Path) -> Path:
    """`wheel` with a CLI that fails at start and no dependencies (so it installs in seconds)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / wheel.name
    records = []
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dest:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                record_name = info.filename
                continue
            if info.filename == "melodypair/cli.py":
                data += f"\nraise SystemExit({BROKEN_MESSAGE!r})\n".encode()
            if info.filename.endswith(".dist-info/METADATA"):
                lines = data.decode().splitlines(keepends=True)
                data = "".join(x for x in lines if not x.startswith("Requires-Dist:")).encode()
            dest.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append(f"{info.filename},sha256={digest.decode()},{len(data)}")
        records.append(f"{record_name},,")
        dest.writestr(record_name, "\n".join(records) + "\n")
    return out


@pytest.mark.e2e
@pytest.mark.slow
def test_first_deploy_installs_a_checked_release_over_ssh(deployer, first_deploy):
    output = _flat(first_deploy.stdout)
    assert _recap(first_deploy.stdout)["failed"] == 0
    # systemd does not run here: the play must say that it skipped the service steps.
    assert "skipping the service steps (melodypair_manage_service=false)" in output
    # The selftest ran on the target over ssh: its JSON report is in the play's output.
    report = re.search(r"selftest passed: (\{\"ok\": true.*?\]\})", output)
    assert report, output
    checks = json.loads(report.group(1))["checks"]
    assert [c["name"] for c in checks] == ["model", "recognizer", "key store"]
    assert all(c["ok"] for c in checks)

    release = deployer.home / "releases" / f"0.1.0-{_sha12(deployer.wheel)}"
    assert os.readlink(deployer.home / "current") == str(release)
    assert (release / ".installed").read_text().strip() == release.name
    assert sorted(p.name for p in release.parent.iterdir()) == [release.name]  # stale one pruned
    python = release / "venv" / "bin" / "python"
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util as u, json; print(json.dumps({m: u.find_spec(m) is not None "
            "for m in ['tensorflow', 'melodypair', 'numpy', 'pyaudio', 'ai_edge_litert']}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(probe.stdout)
    assert found["tensorflow"] is False  # the device extra only
    assert found["melodypair"] and found["numpy"] and found["pyaudio"]
    assert found["ai_edge_litert"] == (platform.machine() in ("x86_64", "aarch64"))
    assert python.resolve().is_relative_to(Path("/usr"))  # the venv is the release's own
    assert "include-system-site-packages = false" in (release / "venv" / "pyvenv.cfg").read_text()

    config = deployer.target / "etc" / "melodypair" / "device.toml"
    assert config.read_text() == (REPO / "device" / "deploy" / "device.toml.example").read_text()
    store = deployer.target / "var" / "lib" / "melodypair"
    assert store.stat().st_mode & 0o777 == 0o700
    unit = (deployer.target / "etc" / "systemd" / "system" / "melodypair.service").read_text()
    assert f"ExecStart={deployer.home}/current/venv/bin/melodypair device run --config " in unit
    assert f"ReadWritePaths={store}\n" in unit


@pytest.mark.e2e
@pytest.mark.slow
def test_deployed_unit_passes_systemd_analyze_verify(deployer, first_deploy):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    unit = deployer.target / "etc" / "systemd" / "system" / "melodypair.service"
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""  # not even a warning


@pytest.mark.e2e
@pytest.mark.slow
def test_second_deploy_rebuilds_the_same_wheel_and_changes_nothing(deployer, first_deploy, sshd):
    """The same device again, this time named in an inventory file (INVENTORY=)."""
    config = deployer.target / "etc" / "melodypair" / "device.toml"
    config.write_text(config.read_text() + "# edited on the device\n")
    current = os.readlink(deployer.home / "current")
    inventory = deployer.work / "fleet.ini"
    inventory.write_text(
        "[devices]\n"
        f"device ansible_host={sshd.host} ansible_port={sshd.port} ansible_user={sshd.user} "
        "ansible_become=false ansible_python_interpreter=/usr/bin/python3\n"
    )
    result = deployer(inventory=inventory)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    recap = _recap(result.stdout)
    assert recap["changed"] == 0 and recap["failed"] == 0, result.stdout
    assert os.readlink(deployer.home / "current") == current
    assert config.read_text().endswith("# edited on the device\n")  # never overwritten


@pytest.mark.e2e
@pytest.mark.slow
def test_a_release_that_fails_its_selftest_is_rolled_back(deployer, first_deploy, tmp_path):
    good = os.readlink(deployer.home / "current")
    broken = _broken_wheel(deployer.wheel, tmp_path / "broken")
    result = deployer(wheel=broken)
    assert result.returncode == 1, result.stdout[-4000:]
    output = _flat(result.stdout)
    broken_release = f"0.1.0-{_sha12(broken)}"
    assert (
        f"release {broken_release}: run the selftest failed (exit 1): {BROKEN_MESSAGE}; "
        f"rolled back to release {Path(good).name}"
    ) in output
    assert "deploy: ansible-playbook failed" in result.stderr
    assert _recap(result.stdout)["rescued"] == 1
    assert os.readlink(deployer.home / "current") == good
    assert (deployer.home / "releases" / broken_release / ".installed").exists()


def _deploy_script(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in _DEPLOY_ENV_VARS}
    return subprocess.run(
        [str(REPO / "scripts" / "deploy.sh"), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


USAGE = "usage: make deploy DEVICE=user@host[:port] | INVENTORY=FILE"


def test_make_deploy_without_a_device_prints_usage_and_exits_2():
    clean = {k: v for k, v in os.environ.items() if k not in _DEPLOY_ENV_VARS}
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", "deploy"],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert USAGE in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, None),
        ({"DEVICE": "pi"}, "DEVICE must look like user@host or user@host:port, not 'pi'"),
        ({"DEVICE": "pi@host:99999"}, "DEVICE: port 99999 is not from 1 to 65535"),
        ({"DEVICE": "pi@a", "INVENTORY": "fleet.ini"}, "give DEVICE or INVENTORY, not both"),
        ({"INVENTORY": "/no/such/fleet.ini"}, "INVENTORY: no such file: /no/such/fleet.ini"),
    ],
)
def test_deploy_script_usage_errors_exit_2(env, message):
    result = _deploy_script(**env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(USAGE)
    if message:
        assert lines == [f"deploy: {message}", lines[-1]]
    else:
        assert len(lines) == 1
