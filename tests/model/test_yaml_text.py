"""YAML text to documents: positions, and every refusal with its line and column."""

from __future__ import annotations

import tracemalloc

import pytest

from dtrain_jupyter.errors import InvalidJob
from dtrain_jupyter.model.yaml_text import MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES, load_documents

MANIFEST = """\
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata:
  name: demo
spec:
  pytorchReplicaSpecs:
    Master:
      replicas: 1
      template:
        spec:
          containers:
            - name: pytorch
              image: busybox
              resources:
                limits:
                  nvidia.com/gpu: 1
"""


def refusal(text) -> tuple[int | None, int | None, int]:
    """(line, column, document) of the single issue load_documents raises for `text`."""
    with pytest.raises(InvalidJob) as info:
        load_documents(text)
    assert len(info.value.issues) == 1
    issue = info.value.issues[0]
    assert issue.path == ""
    assert issue.message
    return issue.line, issue.column, issue.document


def test_one_document_with_positions():
    (doc,) = load_documents(MANIFEST)
    assert doc.index == 0
    assert doc.data["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] == 1
    containers = ("spec", "pytorchReplicaSpecs", "Master", "template", "spec", "containers")
    assert doc.position(()) == (1, 1)
    assert doc.position(("metadata", "name")) == (4, 3)
    assert doc.position(("spec", "pytorchReplicaSpecs", "Master", "replicas")) == (8, 7)
    assert doc.position(containers + (0,)) == (12, 15)
    assert doc.position(containers + (0, "image")) == (13, 15)
    assert doc.position(containers + (0, "resources", "limits", "nvidia.com/gpu")) == (16, 19)


def test_missing_paths_have_no_position_but_a_nearest_parent():
    (doc,) = load_documents(MANIFEST)
    missing = ("spec", "pytorchReplicaSpecs", "Master", "template", "spec", "containers", 0, "command")
    assert doc.position(missing) is None
    assert doc.nearest_position(missing) == (12, 15)
    assert doc.position(("spec", "pytorchReplicaSpecs", "Master", "template", "spec", "containers", 5)) is None
    assert doc.nearest_position(("nothing", "here")) == (1, 1)


def test_several_documents_keep_their_index_and_empty_ones_read_as_none():
    docs = load_documents("a: 1\n---\n---\n- x\n...\n---\nb: 2\n")
    assert [(d.index, d.data) for d in docs] == [(0, {"a": 1}), (1, None), (2, ["x"]), (3, {"b": 2})]
    assert docs[3].position(("b",)) == (7, 1)


def test_bytes_with_bom_and_empty_text():
    assert load_documents("\ufeffa: 1\n".encode())[0].data == {"a": 1}
    assert load_documents("") == []
    assert load_documents("# only a comment\n") == []


def test_dates_stay_strings_and_merge_keys_work():
    (doc,) = load_documents("d: 2024-01-01\nbase: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n")
    assert doc.data["d"] == "2024-01-01"
    assert doc.data["m"] == {"x": 1, "y": 3}
    assert doc.position(("m", "y")) == (5, 3)


def test_aliases_are_copied_apart():
    (doc,) = load_documents("a: &x {k: [1]}\nb: *x\n")
    doc.data["a"]["k"].append(2)
    assert doc.data["b"] == {"k": [1]}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a:\n\tb: 1\n", (2, 1, 0)),
        ("a:\n  b: 1\n\tc: 2\n", (3, 1, 0)),
        ("a: [1, 2\n", (2, 1, 0)),
        ("a: {b: 1\n", (2, 1, 0)),
        ("a: 'x\n", (2, 1, 0)),
        ("a: 1\n b: 2\n", (2, 3, 0)),
        ("a: 1\nb: 2\na: 3\n", (3, 1, 0)),
        ("ok: 1\n---\nx:\n  y: 1\n  y: 2\n", (5, 3, 1)),
        ("a: !!binary aGk=\n", (1, 4, 0)),
        ("a: !custom 1\n", (1, 4, 0)),
        ("a: !!set {x}\n", (1, 4, 0)),
        ("a: *nothing\n", (1, 4, 0)),
        ("a: &r [*r]\n", (1, 4, 0)),
        ("? [1, 2]\n: 3\n", (1, 3, 0)),
        ("a: b\x07\n", (1, 5, 0)),
    ],
    ids=["tab-indent", "tab-in-mapping", "unclosed-bracket", "unclosed-brace", "unclosed-quote",
         "bad-indent", "duplicate-key", "duplicate-key-second-doc", "binary-tag", "custom-tag", "set-tag",
         "undefined-alias", "recursive-alias", "list-as-key", "control-character"],
)
def test_refusals_carry_line_column_and_document(text, where):
    assert refusal(text) == where


def test_tab_refusal_names_tabs():
    with pytest.raises(InvalidJob) as info:
        load_documents("a:\n\tb: 1\n")
    assert "tab" in info.value.issues[0].message


def test_unclosed_bracket_says_where_it_opened():
    with pytest.raises(InvalidJob) as info:
        load_documents("a: [1, 2\n")
    assert "line 1, column 4" in info.value.issues[0].message


def test_too_big_text_is_refused_before_parsing():
    line = "k: " + "x" * 100 + "\n"
    text = line * (MAX_TEXT_BYTES // len(line) + 1)
    assert refusal(text) == (None, None, 0)
    assert refusal(text.encode()) == (None, None, 0)
    # Multi-byte characters count in bytes, not characters.
    assert refusal("k: " + "é" * (MAX_TEXT_BYTES // 2 + 1)) == (None, None, 0)


def test_not_utf8_and_not_text():
    assert refusal(b"a: \xff\xfe\n") == (None, None, 0)
    assert refusal("a: 1\nb: \ud800\n") == (2, 4, 0)
    assert refusal(12) == (None, None, 0)


def test_nesting_is_bounded():
    assert load_documents("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))
    line, column, _ = refusal("[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5))
    assert (line, column) == (1, MAX_DEPTH + 1)


def billion_laughs(levels: int = 9, width: int = 10) -> str:
    lines = ['l0: &l0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_with_bounded_memory():
    tracemalloc.start()
    try:
        line, column, _ = refusal(billion_laughs())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert line is not None and column is not None
    # 10^9 expanded strings would need tens of GB; the refusal stays within a few MB.
    assert peak < 20 * 2**20


def test_aliases_within_the_bound_are_expanded():
    text = billion_laughs(levels=3, width=10)  # 1,000 leaves: fine
    (doc,) = load_documents(text)
    assert len(doc.data["l3"]) == 10 and doc.data["l3"][0][0] == ["lol"] * 10


def test_the_bound_counts_the_whole_text():
    per_doc = billion_laughs(levels=4, width=10)  # ~11,000 values per document
    documents = MAX_NODES // 11_000 + 2
    with pytest.raises(InvalidJob) as info:
        load_documents("---\n".join([per_doc] * documents))
    assert info.value.issues[0].document > 0
