"""`make model`'s last step on a copy of the shipped bundle, one trial per case: every row is
evaluated and recorded (manifest metrics, eval.md, the row files, the README block), and the
model itself is left as it was."""

import json
import shutil

from melodypair.host import finish_model, instrument_eval
from melodypair.shared.decoder import default_model_dir
from melodypair.shared.model_bundle import load_bundle


def test_finishing_a_copy_of_the_shipped_model_records_every_row(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(default_model_dir(), folder)
    before = load_bundle(folder).manifest
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- recognizer:begin -->\nold\n<!-- recognizer:end -->\nend\n")
    argv = [str(folder), "--trials", "1", "--skip-tuning", "--readme", str(readme)]
    assert finish_model.main(argv) == 0
    after = load_bundle(folder).manifest
    assert after.tflite_sha256 == before.tflite_sha256
    assert after.metrics["smoothing"] == before.metrics["smoothing"]
    assert after.metrics["eval_trials_per_condition"] == 1
    assert set(after.metrics["instrument"]) == {c.name for c in instrument_eval.DEFAULT_CASES}
    for name in ("eval.json", "reattack.json", "quiet_note.json", "instrument.json"):
        assert json.loads((folder / name).read_text()), name
    eval_md = (folder / "eval.md").read_text()
    assert sum(line.startswith("|---") for line in eval_md.splitlines()) == 4  # four tables
    assert "The instrument row" in eval_md and "| reed, dry |" in eval_md
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("end\n") and "old" not in text
    assert "| organ, room RT60 0.5 s |" in text
