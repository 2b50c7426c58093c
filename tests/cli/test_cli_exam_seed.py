"""``ag exam --seed``: one rule for every --kind, and a message that names the option.

``ag exam --kind im2col --seed -3`` printed only NumPy's "expected non-negative
integer" while the default kind took the negative seed.
"""

from __future__ import annotations

import pytest

from ag.cli import build_parser, main

KINDS = build_parser()._subparsers._group_actions[0].choices["exam"]._option_string_actions["--kind"].choices


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", ["-3", "1.5", "x"])
def test_a_bad_seed_is_refused_naming_the_option_for_every_kind(kind, seed, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["exam", "--kind", kind, "--seed", seed, "--no-answers"])
    assert exit_.value.code == 2
    assert "argument --seed: must be a whole number >= 0" in capsys.readouterr().err


@pytest.mark.parametrize("kind", KINDS)
def test_seed_zero_works_for_every_kind(kind, capsys):
    assert main(["exam", "--kind", kind, "--seed", "0", "--no-answers"]) == 0
    assert "seed 0" in capsys.readouterr().out
