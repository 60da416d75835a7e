"""The instrument row: fixed spectra whose fundamental is not the loudest partial."""

import numpy as np

from melodypair.host import instrument_eval
from melodypair.host.instrument_eval import INSTRUMENTS, InstrumentCase


def test_every_instrument_has_a_partial_louder_than_its_fundamental():
    for name, timbre in INSTRUMENTS.items():
        gains = np.array(timbre.partial_gains_db)
        assert gains.argmax() > 0 and gains[0] >= -20.0, name


def test_a_small_run_on_the_shipped_model_hears_a_reed_that_stft_hears_a_twelfth_up():
    case = InstrumentCase("reed, dry", "reed", 0.0)
    rows = instrument_eval.run(trials_per_case=3, cases=(case,), workers=1, progress=False)
    assert [r["decoder"] for r in rows] == ["learned", "stft"]
    learned, stft = rows
    assert learned["trials"] == stft["trials"] == 3
    assert learned["paired"] == 1.0 and stft["paired"] == 0.0
    table = instrument_eval.markdown_table(rows).splitlines()
    assert len(table) == 3 and table[2].startswith(f"| {case.name} | 100% | 100% | 0% | 0% |")
