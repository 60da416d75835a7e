"""`melodypair evaluate`: the in-memory protocol, the peers, the sweep runner, the report files
and the README block; `--quick` end to end (slow)."""

import json
import struct
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from melodypair.host import evaluate as ev
from melodypair.host import report
from melodypair.host.peers import ggwave_peer, pyin
from melodypair.shared import kdf
from melodypair.shared.decoder import default_model_dir
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.synth import SynthParams, Timbre, render_notes

HAS_MODEL = (default_model_dir() / "model.tflite").exists()
needs_ggwave = pytest.mark.skipif(not ggwave_peer.available(), reason="ggwave not installed")
needs_librosa = pytest.mark.skipif(not pyin.available(), reason="librosa not installed")


def _password(secret: int) -> bytes:
    return kdf.encode_password(MelodyCode().encode(secret).data, 16)


# ---------------------------------------------------------------- protocol and alignment


def test_same_melody_pairs_in_memory_through_the_real_protocol():
    paired, seconds, done = ev.pair_in_memory(_password(12345), _password(12345))
    assert paired and done == 2
    assert 0 < seconds < 1


def test_different_melodies_never_pair_and_both_sides_refuse():
    paired, _, done = ev.pair_in_memory(_password(12345), _password(12346))
    assert not paired and done == 0


def test_alignment_counts_substitutions_insertions_and_deletions():
    none = 16
    played = [1, 2, 3, 4]
    assert ev.align(played, [1, 2, 3, 4], none) == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert ev.align(played, [1, 9, 3, 4], none) == [(1, 1), (2, 9), (3, 3), (4, 4)]
    assert ev.align(played, [1, 3, 4], none) == [(1, 1), (2, none), (3, 3), (4, 4)]
    assert ev.align(played, [1, 2, 2, 3, 4], none).count((none, 2)) == 1
    assert ev.align([], [5], none) == [(none, 5)]


def _device(data):
    return ev.DeviceOutcome(data, data is not None, False, True, 0, 13, 0, 0.1, 3.0)


def _trial(decoder, t, secret, heard_a, heard_b):
    devices = (_device(heard_a), _device(heard_b))
    return ev.TrialRecord(decoder, 0, t, "sine", secret, True, devices, 2.5, 0.01, 10.0)


def test_false_accept_pairs_join_different_melodies_of_one_decoder():
    stft = [
        _trial("stft", 0, 1, (1,) * 10, (1,) * 10),
        _trial("stft", 1, 2, (2,) * 10, None),
        _trial("stft", 2, 3, (3,) * 10, (3,) * 10),
    ]
    garbage = (0,) * 10  # a peer that turns noise into the same payload in two trials
    peer = [_trial("ggwave:X", t, t + 1, garbage, None) for t in range(3)]
    pairs = ev._false_accept_pairs(stft + peer, 50, seed=1)
    assert set(pairs) == {"stft", "ggwave:X"}
    assert len(pairs["stft"]) == len(pairs["ggwave:X"]) == 50
    assert all(a != b for a, b in pairs["stft"])
    assert {a[0] for a, _ in pairs["stft"]} == {1, 2, 3}
    assert all(a == b == garbage for a, b in pairs["ggwave:X"])
    assert ev._false_accept_pairs(stft, 50, seed=1)["stft"] == pairs["stft"]
    assert ev._false_accept_pairs(stft[:1] + peer[:1], 10, seed=1) == {}


def test_the_check_counts_the_melody_decoders_and_reports_the_peers(tiny_result):
    def with_accepts(stft, peer):
        fa = {
            "stft": ev.FalseAcceptResult(20, stft, 0),
            "ggwave:X": ev.FalseAcceptResult(9, peer, 0),
        }
        return report.build_report(replace(tiny_result, false_accepts=fa))

    peer_only = with_accepts(0, 2)
    assert peer_only["checks"]["false_accepts_ok"]
    assert (peer_only["false_accepts"], peer_only["false_accept_trials"]) == (0, 20)
    assert peer_only["false_accepts_by_decoder"]["ggwave:X"] == {
        "trials": 9,
        "accepts": 2,
        "one_sided": 0,
    }
    assert "| ggwave:X | 9 | 2 | 0 |" in report.render_markdown(peer_only)
    assert "| ggwave:X | 9 | 2 | 0 |" in report.readme_block(peer_only, "x.png")
    mine = with_accepts(1, 0)
    assert not mine["checks"]["false_accepts_ok"] and mine["false_accepts"] == 1


# ---------------------------------------------------------------- peers


@needs_librosa
def test_pyin_peer_hears_a_clean_melody_with_octave_leaps():
    notes = [0, 15, 0, 14, 1, 1, 13, 2, 12, 3, 11, 4, 10]  # C5 <-> D7: leaps of two octaves
    rendering = render_notes(notes, params=SynthParams(timbre=Timbre("triangle")))
    audio = np.concatenate([np.zeros(8000), rendering.audio, np.zeros(8000)])
    assert [n.symbol for n in pyin.decode(audio)] == notes


@needs_ggwave
@pytest.mark.parametrize("name", list(ggwave_peer.PROTOCOLS))
def test_ggwave_sends_the_40_bits_in_a_quiet_room(name):
    protocol = ggwave_peer.PROTOCOLS[name]
    secret = 0xA5C3_0F11_7E
    payload = ggwave_peer.payload_of(secret)
    wave = ggwave_peer.encode(payload, protocol)
    assert wave.dtype == np.float32 and wave.size > ggwave_peer.RATE_HZ // 10
    audio = np.concatenate([np.zeros(20000, np.float32), wave, np.zeros(48000, np.float32)])
    assert ggwave_peer.receive(audio, protocol) == payload
    assert ggwave_peer.receive(np.zeros(48000, np.float32), protocol) is None


def test_ggwave_payload_is_the_melody_password():
    melody = MelodyCode().encode(0x12_3456_789A)
    payload = ggwave_peer.payload_of(melody.secret)
    assert payload == bytes.fromhex("123456789a")
    assert ggwave_peer.data_symbols(payload) == melody.data


# ---------------------------------------------------------------- the runner


def _tiny_sweep() -> ev.Sweep:
    return ev.Sweep(
        "tiny",
        (
            ev.SweepPoint(ev.QUIET, None, ev.ROOMS[0], 3),
            ev.SweepPoint("white", -10.0, ev.ROOMS[1], 2),
        ),
        20,
    )


def _tiny_options(**kw) -> ev.RunOptions:
    protocols = ("AUDIBLE_FAST",) if ggwave_peer.available() else ()
    base = ev.RunOptions(seed=7, workers=1, decoders=("stft",), ggwave_protocols=protocols)
    return replace(base, progress=False, **kw)


def _outcomes(result):
    return [
        (r.decoder, r.point, r.trial, r.secret, r.paired, [(d.data, d.exact) for d in r.devices])
        for r in result.records
    ]


@pytest.fixture(scope="module")
def tiny_result():
    return ev.run(_tiny_sweep(), _tiny_options())


def test_runner_yields_one_record_per_trial_and_decoder(tiny_result):
    result = tiny_result
    per_trial = len(result.decoders)
    assert len(result.records) == 5 * per_trial
    quiet = [r for r in result.records if r.point == 0 and r.decoder == "stft"]
    assert all(r.paired for r in quiet)  # the rule-based peer pairs clean audio
    assert all(r.time_to_pair_s > r.on_air_s for r in quiet)
    assert len({r.secret for r in result.records}) == 5
    assert set(result.false_accepts) == set(result.decoders)
    for fa in result.false_accepts.values():
        assert fa.trials == 20 and fa.accepts == 0 and fa.one_sided == 0
    assert result.confusion["stft"].sum() >= 3 * 2 * 13


def test_runner_is_reproducible_whatever_the_workers(tiny_result):
    again = ev.run(_tiny_sweep(), _tiny_options(workers=2, chunk_trials=1))
    assert _outcomes(again) == _outcomes(tiny_result)
    assert again.false_accepts == tiny_result.false_accepts


def test_runner_says_what_it_skipped():
    _, _, skipped = ev.available_decoders(("stft",), ())
    assert skipped == {}
    with pytest.raises(ev.EvaluationError, match="unknown decoder"):
        ev.available_decoders(("nope",), ())
    with pytest.raises(ev.EvaluationError, match="unknown ggwave protocol"):
        ev.available_decoders(("stft",), ("DT_FASTEST",))


def test_sweeps_cover_the_issue():
    full = ev.full_sweep()
    noises = {p.noise for p in full.points}
    assert {"white", "pink", "babble", "tonal", "music", "transient"} <= noises
    snrs = {p.snr_db for p in full.points if p.snr_db is not None}
    assert min(snrs) == -10 and max(snrs) == 20
    assert {p.room.rt60_s for p in full.points} == {0.0, 0.3, 0.6}
    assert full.false_accept_trials >= 1000
    quick = ev.quick_sweep()
    assert quick.points[0].noise == ev.QUIET and quick.points[0].room.rt60_s == 0
    assert quick.points[0].trials >= 100


# ---------------------------------------------------------------- the report


def test_wilson_interval():
    lo, hi = report.wilson_interval(0, 10)
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-3)
    lo, hi = report.wilson_interval(50, 100)
    assert lo == pytest.approx(1 - hi) and lo == pytest.approx(0.4038, abs=1e-3)


def test_headline_threshold_is_the_lowest_snr_from_which_up_all_pass():
    pooled = [
        {"decoder": "x", "noise": "white", "snr_db": s, "pairing_success": p}
        for s, p in [(-10, 0.2), (-5, 0.97), (0, 0.93), (5, 0.96), (10, 1.0)]
    ]
    assert report.holds_down_to(pooled, "x", "white") == 5
    pooled[-1]["pairing_success"] = 0.5
    assert report.holds_down_to(pooled, "x", "white") is None


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_report_files(tiny_result, tmp_path):
    data = report.build_report(tiny_result)
    written = report.write_report(data, tmp_path)
    names = {p.name for p in written}
    assert {"report.json", "report.csv", "report.md", report.HEADLINE_PLOT} <= names
    loaded = json.loads((tmp_path / "report.json").read_text())
    for key in ("model_sha256", "false_accept_trials", "false_accepts", "conditions", "seed"):
        assert key in loaded
    assert "active" in loaded["snr_definition"]
    assert loaded["package_versions"]["numpy"] == np.__version__
    row = loaded["conditions"][0]
    for key in ("decoder", "noise", "snr_db", "room", "trials", "pairing_success", "melody_exact"):
        assert key in row
    assert {"note_error_rate", "time_to_pair_s", "ci95_low", "ci95_high"} <= set(row)
    csv_lines = (tmp_path / "report.csv").read_text().splitlines()
    assert csv_lines[0].startswith("decoder,noise,snr_db,room")
    assert len(csv_lines) == 1 + len(loaded["conditions"])
    md = (tmp_path / "report.md").read_text()
    assert "False accepts" in md and "| white |" in md
    width, height = _png_size(tmp_path / report.HEADLINE_PLOT)
    assert width > 400 and height > 300
    _png_size(tmp_path / report.TIME_PLOT)


def test_readme_block_is_the_only_change(tiny_result, tmp_path):
    report.write_report(report.build_report(tiny_result), tmp_path / "eval")
    readme = tmp_path / "README.md"
    before, after = "# Title\n\nIntro.\n\n", "\n\n## Later\n\nText.\n"
    readme.write_text(before + report.BEGIN_MARK + "\nold\n" + report.END_MARK + after)
    target = report.update_readme(readme, tmp_path / "eval", tmp_path / "docs" / "figures")
    text = readme.read_text()
    assert text.startswith(before + report.BEGIN_MARK) and text.endswith(report.END_MARK + after)
    assert "old" not in text
    assert "](docs/figures/eval_success_vs_snr.png)" in text
    assert target.is_file()
    report.update_readme(readme, tmp_path / "eval", tmp_path / "docs" / "figures")
    assert readme.read_text() == text  # idempotent


def test_readme_without_markers_is_refused(tiny_result, tmp_path):
    report.write_report(report.build_report(tiny_result), tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n")
    with pytest.raises(report.ReportError, match="eval:begin"):
        report.update_readme(readme, tmp_path, tmp_path / "figures")
    assert readme.read_text() == "# Title\n"


# ---------------------------------------------------------------- the command line


def _cli(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "melodypair", "evaluate", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_help_and_usage_errors():
    done = _cli("--help")
    assert done.returncode == 0 and "--quick" in done.stdout and "false accepts" in done.stdout
    assert _cli("--trials", "0").returncode == 2
    bad = _cli("--decoders", "nope", "--ggwave", "none", "--no-progress")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("melodypair: error: unknown decoder")


@pytest.mark.slow
@pytest.mark.skipif(not HAS_MODEL, reason="no shipped model yet")
def test_quick_evaluation_end_to_end(tmp_path):
    done = _cli("--quick", "--out", str(tmp_path), "--json", "--check", "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    data = json.loads((tmp_path / "report.json").read_text())
    assert summary["false_accepts"] == data["false_accepts"] == 0
    assert data["false_accept_trials"] >= 300
    assert data["checks"]["clean_pairing_learned"] >= 0.99
    assert (
        data["model_sha256"]
        == json.loads((default_model_dir() / "manifest.json").read_text())["tflite_sha256"]
    )
    assert (tmp_path / report.CONFUSION_PLOT).is_file()
