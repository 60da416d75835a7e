"""The device config file: defaults, every setting, and one clear message for each kind of error."""

import os
import re
import socket
import textwrap
from pathlib import Path

import pytest

from melodypair.device import config as config_module
from melodypair.device.config import (
    KNOWN_KEYS,
    ConfigError,
    DeviceConfig,
    load_config,
    parse_config,
)
from melodypair.shared.errors import UsageError

EXAMPLE = Path(config_module.__file__).with_name("deploy") / "device.toml.example"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "device.toml"
    path.write_text(textwrap.dedent(text))
    return path


def _error(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    return message[len(f"{path}: ") :]


def test_defaults():
    config = DeviceConfig()
    assert config.audio.input == "default"
    assert config.audio.rate_hz == 48000
    assert config.audio.chunk_ms == 20.0 and config.audio.chunk_samples == 960
    assert config.link.url == "/dev/ttyUSB0" and config.link.timeout_s == 15.0
    assert config.store.dir == Path("/var/lib/melodypair")
    assert config.model.dir is None
    assert config.log.level == "info"
    assert config.hooks.on_success is None and config.hooks.on_failure is None
    assert config.device.name == socket.gethostname()
    assert config.source is None


def test_config_error_is_a_usage_error():
    assert issubclass(ConfigError, UsageError) and ConfigError("x").exit_code == 2


def test_every_setting_is_read(tmp_path):
    path = _write(
        tmp_path,
        """
        [audio]
        input = "USB PnP Sound Device"
        rate_hz = 44100
        chunk_ms = 10
        [link]
        url = "tcp-listen://0.0.0.0:7300"
        timeout_s = 2.5
        [store]
        dir = "keys"
        [model]
        dir = "/opt/models/v2"
        [log]
        level = "DEBUG"
        [hooks]
        on_success = "/usr/local/bin/led --colour 'bright green'"
        on_failure = ["/usr/bin/buzz", "--times", "3"]
        [device]
        name = "kitchen sensor"
        """,
    )
    config = load_config(path)
    assert config.audio.input == "USB PnP Sound Device"
    assert config.audio.rate_hz == 44100
    assert config.audio.chunk_ms == 10.0 and config.audio.chunk_samples == 441
    assert config.link.url == "tcp-listen://0.0.0.0:7300" and config.link.timeout_s == 2.5
    assert config.store.dir == tmp_path / "keys"  # relative to the config file
    assert config.model.dir == Path("/opt/models/v2")
    assert config.log.level == "debug"
    assert config.hooks.on_success == ("/usr/local/bin/led", "--colour", "bright green")
    assert config.hooks.on_failure == ("/usr/bin/buzz", "--times", "3")
    assert config.device.name == "kitchen sensor"
    assert config.source == path
    assert config.as_dict()["store"] == {"dir": str(tmp_path / "keys")}
    assert config.as_dict()["hooks"]["on_failure"] == ["/usr/bin/buzz", "--times", "3"]


def test_partial_config_keeps_the_other_defaults(tmp_path):
    config = load_config(_write(tmp_path, "[audio]\ninput = 2\n[log]\n"))
    assert config.audio.input == 2
    assert config.audio.rate_hz == 48000
    assert config.log.level == "info"
    assert config.link == DeviceConfig().link


def test_empty_hooks_and_model_dir_mean_none(tmp_path):
    config = load_config(
        _write(tmp_path, '[hooks]\non_success = ""\non_failure = []\n[model]\ndir = ""\n')
    )
    assert config.hooks.on_success is None and config.hooks.on_failure is None
    assert config.model.dir is None


def test_the_shipped_example_is_the_defaults(tmp_path):
    config = load_config(EXAMPLE)
    assert config == DeviceConfig(source=EXAMPLE)


def test_the_example_documents_every_key_and_its_commented_examples_are_valid(tmp_path):
    text = EXAMPLE.read_text()
    section = None
    documented = set()
    for line in text.splitlines():
        if m := re.fullmatch(r"\[(\w+)\]", line):
            section = m.group(1)
        elif m := re.fullmatch(r"#? ?(\w+) = .*", line):
            documented.add(f"{section}.{m.group(1)}")
    assert documented == set(KNOWN_KEYS)
    uncommented = re.sub(r"(?m)^# (\w+ = )", r"\1", text)
    uncommented = re.sub(r'(?m)^on_success = ""\n', "", uncommented)  # a commented one follows
    config = load_config(_write(tmp_path, uncommented))
    assert config.device.name == "kitchen-sensor"
    assert config.hooks.on_success == ("/usr/local/bin/led", "--blink", "green")


def test_no_path_and_no_default_file_means_all_defaults(monkeypatch, tmp_path):
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    assert load_config() == DeviceConfig()


def test_no_path_reads_the_default_file(monkeypatch, tmp_path):
    path = _write(tmp_path, "[link]\ntimeout_s = 3\n")
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG_PATH", path)
    assert load_config().link.timeout_s == 3.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[link]\ntimeout_s = "abc"', "link.timeout_s: expected a number > 0, got 'abc'"),
        ("[link]\ntimeout_s = 0", "link.timeout_s: expected a number > 0, got 0"),
        ("[link]\ntimeout_s = -1.5", "link.timeout_s: expected a number > 0, got -1.5"),
        ("[link]\ntimeout_s = nan", "link.timeout_s: expected a number > 0, got nan"),
        ("[link]\ntimeout_s = true", "link.timeout_s: expected a number > 0, got true"),
        ("[audio]\nrate_hz = 4000", "audio.rate_hz: expected an integer from 8000 to 192000"),
        ("[audio]\nrate_hz = 48000.0", "audio.rate_hz: expected an integer from 8000 to 192000"),
        ("[audio]\nchunk_ms = 0.5", "audio.chunk_ms: expected a number from 1 to 1000, got 0.5"),
        ("[audio]\ninput = -1", 'audio.input: expected "default", a device index >= 0'),
        ('[audio]\ninput = "  "', 'audio.input: expected "default", a device index >= 0'),
        ("[link]\nurl = 7", "link.url: expected a serial port or URL"),
        ('[link]\nurl = "sokcet://a:1"', "link.url: unknown URL scheme 'sokcet' (known: alt,"),
        ('[link]\nurl = "socket://host"', "link.url: expected socket://HOST:PORT with a port"),
        ('[link]\nurl = "tcp-listen://:0"', "link.url: expected tcp-listen://HOST:PORT"),
        ("[store]\ndir = 5", "store.dir: expected a directory path, got 5"),
        ("[model]\ndir = []", 'model.dir: expected a directory path or "", got []'),
        ('[log]\nlevel = "loud"', "log.level: expected one of debug, info, warning, error"),
        ("[hooks]\non_success = 3", "hooks.on_success: expected a command"),
        ("[hooks]\non_failure = [1, 2]", "hooks.on_failure: expected a command"),
        (
            '[hooks]\non_failure = "led \'on"',
            "hooks.on_failure: expected a command: a string (split like a shell would, not run "
            'by one) or a list; it cannot be split (No closing quotation), got "led \'on"',
        ),
        ('[device]\nname = ""', "device.name: expected 1 to 64 bytes of printable text"),
        ('[device]\nname = "a\\tb"', "device.name: expected 1 to 64 bytes of printable text"),
        (f'[device]\nname = "{"x" * 65}"', "device.name: expected 1 to 64 bytes"),
        ("audio = 5", "audio: expected a table [audio], got 5"),
    ],
)
def test_bad_values_name_the_key_and_the_problem(tmp_path, text, message):
    assert _error(tmp_path, text).startswith(message)


def test_unknown_key_is_named_with_the_known_keys(tmp_path):
    message = _error(tmp_path, "[audio]\nrate = 44100\n")
    assert message == f"unknown key 'audio.rate'; known keys: {', '.join(KNOWN_KEYS)}"
    assert "audio.rate_hz" in message and "device.name" in message


def test_unknown_section_is_named(tmp_path):
    message = _error(tmp_path, "[microphone]\ninput = 1\n")
    assert message.startswith("unknown section 'microphone'; known keys: audio.input, ")


def test_toml_syntax_error_gives_the_line(tmp_path):
    message = _error(tmp_path, '[audio]\nrate_hz = 48000\ninput = "default\n')
    assert message.startswith("not valid TOML: ")
    assert "line 3" in message


def test_not_utf8(tmp_path):
    path = tmp_path / "device.toml"
    path.write_bytes(b'[device]\nname = "\xff"\n')
    with pytest.raises(ConfigError, match="not valid TOML: not UTF-8 text"):
        load_config(path)


def test_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError, match=r"absent\.toml: cannot read the config file: No such"):
        load_config(tmp_path / "absent.toml")


def test_directory_instead_of_a_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file: Is a directory"):
        load_config(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    path = _write(tmp_path, "")
    path.chmod(0)
    with pytest.raises(ConfigError, match="cannot read the config file: Permission denied"):
        load_config(path)


def test_parse_config_without_a_file_names_it_config():
    with pytest.raises(ConfigError, match=r"^config: log\.level: "):
        parse_config("[log]\nlevel = 1\n")
    assert parse_config("[store]\ndir = 'rel'\n").store.dir == Path("rel")
