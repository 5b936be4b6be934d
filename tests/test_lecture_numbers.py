"""The numbers the lecture pages quote are the numbers ``make figures`` measured.

Every quoted number in docs/lecture/*.md and docs/index.md is its text followed by
``<!--key-->``; docs/lecture/numbers.json (written by examples/lecture/make_figures.py)
holds the text of every key. The claims themselves are tested with margins in
test_lecture.py; this file checks that what a page says is what the code measured last.
"""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "lecture"))
import numbers_file  # noqa: E402

NUMBERS = {"p06.acc_all": {"text": "96.0%", "value": 0.96, "machine": False},
           "p02.slope_dense": {"text": "2.1", "value": 2.1, "machine": True}}


def test_every_quoted_number_is_the_data_files():
    problems = numbers_file.check_pages()
    assert problems == [], "\n".join(problems) + "\n(run `make figures` to requote the pages)"


def test_the_pages_quote_numbers_and_the_file_has_no_unquoted_ones():
    data = numbers_file.load()
    assert data, f"{numbers_file.DATA} is missing: run `make figures`"
    quoted = {m["key"] for page in numbers_file.pages()
              for m in numbers_file.MARK.finditer(page.read_text(encoding="utf-8"))}
    assert len(quoted) >= 40
    # a number recorded but quoted nowhere is allowed (the gallery prints it); a page
    # quoting one the scripts no longer record is not (checked above)
    assert quoted <= set(numbers_file.flat(data))


def test_timings_are_kept_apart_and_marked_machine_dependent():
    data = numbers_file.load()
    machine = data["machine_dependent"]
    assert machine["machine"] and machine["series"]
    assert all(key.startswith(("p02.", "p14.")) for key in machine["numbers"])   # timings
    assert not any("time" in key or "slope" in key for key in data["numbers"])


def test_a_number_edited_by_hand_is_caught():
    page = "LeNet-5 reaches 96.0%<!--p06.acc_all--> with all six.\n"
    assert numbers_file.problems(page, NUMBERS) == []
    for edited in ("96.4%", "196.0%", "96.0", ""):
        text = page.replace("96.0%", edited)
        [problem] = numbers_file.problems(text, NUMBERS)
        assert "p06.acc_all" in problem and "'96.0%'" in problem
    assert numbers_file.requote(page.replace("96.0%", "96.4%"), NUMBERS) == page


def test_unknown_keys_machine_numbers_and_line_starts_are_caught():
    [unknown] = numbers_file.problems("| 3<!--p06.nope--> |", NUMBERS)
    assert "p06.nope is not in numbers.json" in unknown
    [unmarked] = numbers_file.problems("a slope of 2.1<!--p02.slope_dense-->", NUMBERS)
    assert "machine-dependent" in unmarked
    assert numbers_file.problems("a slope of 2.1<!--p02.slope_dense--> (machine-dependent)",
                                 NUMBERS) == []
    start = numbers_file.problems("x\n<!--p06.acc_all-->\n", NUMBERS)
    assert any("cannot start a line" in problem for problem in start)


def test_quote_refuses_bad_keys_and_texts():
    with pytest.raises(ValueError, match="pNN.name"):
        numbers_file.quote("Accuracy", 0.5)
    with pytest.raises(ValueError, match="space"):
        numbers_file.quote("p06.range", 0.5, "17 to {:.0%}")
    assert numbers_file.quote("p99.test_only", 0.96, "{:.1%}") == "96.0%"
    numbers_file.RECORDED.pop("p99.test_only")


def test_timings_keep_the_series_of_record_within_the_tolerance(tmp_path, monkeypatch):
    path = tmp_path / "numbers.json"
    record = {"machine_dependent": {"machine": numbers_file.machine_name(),
                                    "series": {"p99.t": [1.0, None, 4.0]}}}
    path.write_text(json.dumps(record))
    monkeypatch.setattr(numbers_file, "DATA", path)
    monkeypatch.setattr(numbers_file, "SERIES", {})
    load = numbers_file.load
    monkeypatch.setattr(numbers_file, "load", lambda p=path: load(p))
    # one point twice as slow (the machine was busy): the series of record stays
    assert numbers_file.timings("p99.t", [2.0, None, 3.5]) == [1.0, None, 4.0]
    # everything 2.5 times slower: a real change, replaced
    assert numbers_file.timings("p99.t", [2.5, None, 10.0]) == [2.5, None, 10.0]
    assert numbers_file.timings("p99.t", [1.0, 2.0, 4.0]) == [1.0, 2.0, 4.0]  # other points
    record["machine_dependent"]["machine"] = "another machine"
    path.write_text(json.dumps(record))
    assert numbers_file.timings("p99.t", [1.01, None, 4.0]) == [1.01, None, 4.0]
