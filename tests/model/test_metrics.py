"""Metric recognition in log lines: the shapes read, the x values, the false positives refused."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtrain_jupyter.model.metrics import MARKER, METRIC_WORDS, MetricPoint, MetricReader, metric_key, recognize


def named(points) -> dict[str, float]:
    return {p.name: p.value for p in points}


# -- the shapes -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "line, expected",
    [
        pytest.param("loss=0.21", {"loss": 0.21}, id="key=value"),
        pytest.param("loss: 0.21", {"loss": 0.21}, id="key: value"),
        pytest.param("step 120 loss=0.3 lr=1e-4", {"loss": 0.3, "lr": 1e-4}, id="exponent"),
        pytest.param("Step: 120, Loss: 0.25, acc: 93.1%", {"Loss": 0.25, "acc": 93.1}, id="percent-and-capitals"),
        pytest.param("val_loss = 0.5  val_accuracy = 0.75", {"val_loss": 0.5, "val_accuracy": 0.75},
                     id="spaced-equals"),
        pytest.param("train/loss=0.4 eval/top1_err=0.12 ppl=13.2",
                     {"train/loss": 0.4, "eval/top1_err": 0.12, "ppl": 13.2}, id="namespaced-keys"),
        pytest.param("f1: 0.81 precision: 0.9 recall: 0.7 learning_rate=3e-05",
                     {"f1": 0.81, "precision": 0.9, "recall": 0.7, "learning_rate": 3e-05}, id="metric-words"),
        pytest.param("iter 5: loss = tensor(0.2345, device='cuda:0', grad_fn=<NllLossBackward0>)",
                     {"loss": 0.2345}, id="torch-tensor-repr"),
        pytest.param("loss=-1.5e+2", {"loss": -150.0}, id="negative"),
        pytest.param("100/100 [==============================] - 2s 20ms/step - loss: 0.2345 - accuracy: 0.9100 - "
                     "val_loss: 0.3012 - val_accuracy: 0.8800",
                     {"loss": 0.2345, "accuracy": 0.91, "val_loss": 0.3012, "val_accuracy": 0.88}, id="keras-2"),
        pytest.param("100/100 ━━━━━━━━━━━━━━━━━━━━ 1s 6ms/step - accuracy: 0.9312 - loss: 0.2281",
                     {"accuracy": 0.9312, "loss": 0.2281}, id="keras-3"),
        pytest.param("100/100 - 2s - loss: 0.2345 - accuracy: 0.9100 - 2s/epoch - 20ms/step",
                     {"loss": 0.2345, "accuracy": 0.91}, id="keras-verbose-2"),
        pytest.param("{'loss': 0.1234, 'grad_norm': 1.52, 'learning_rate': 4.5e-05, 'epoch': 1.0}",
                     {"loss": 0.1234, "grad_norm": 1.52, "learning_rate": 4.5e-05}, id="hf-trainer"),
        pytest.param("{'eval_loss': 0.4, 'eval_runtime': 2.5, 'eval_samples_per_second': 80.0, 'epoch': 2.0}",
                     {"eval_loss": 0.4, "eval_runtime": 2.5, "eval_samples_per_second": 80.0}, id="hf-eval"),
        pytest.param("Epoch 0:  45%|████▌     | 45/100 [00:02<00:03, 18.52it/s, v_num=0, train_loss=0.693]",
                     {"train_loss": 0.693}, id="lightning-bar"),
        pytest.param("\x1b[1m\x1b[32mloss\x1b[0m=0.5 \x1b[33macc\x1b[0m=0.9", {"loss": 0.5, "acc": 0.9},
                     id="ansi-colours"),
        pytest.param("Epoch 1:  10%|█ | 1/10 [00:01, v_num=0, train_loss=0.9]\rEpoch 1:  20%|██ | 2/10 [00:02, "
                     "v_num=0, train_loss=0.8]", {"train_loss": 0.8}, id="carriage-return-bar-keeps-the-last"),
        pytest.param("Train Epoch: 1 [640/60000 (1%)]\tLoss: 2.301", {"Loss": 2.301}, id="pytorch-mnist-example"),
        pytest.param("[rank1]: loss=0.25", {"loss": 0.25}, id="torchrun-prefix"),
    ],
)
def test_shapes(line, expected):
    points = recognize(line)
    assert named(points) == pytest.approx(expected)
    assert all(isinstance(p, MetricPoint) and p.source == "log" for p in points)


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("2024-05-01 12:30:45,123 INFO worker started", id="timestamp"),
        pytest.param("12:30:45 loss", id="time-then-word"),
        pytest.param("Epoch 3/10", id="epoch-line"),
        pytest.param("epoch 3/10 started", id="epoch-counter"),
        pytest.param("connected to 10.0.0.1:29500, err_host=10.0.0.2", id="ip"),
        pytest.param("loss_version=1.2.3 acc_lib: 2.0.1", id="versions"),
        pytest.param("loss_file=/tmp/loss.txt val_loss: ./runs/1", id="paths"),
        pytest.param("err=0x1f acc: 0xdeadbeef", id="hex"),
        pytest.param("loss: 2024-05-01", id="date"),
        pytest.param("Errors: 3", id="a-count-of-errors"),
        pytest.param("stderr: 2", id="stderr"),
        pytest.param("epochs=10 batch_size=32 accumulate_grad_batches=4 num_workers: 8", id="hyperparameters"),
        pytest.param("access: 5 accepted=3 success=1", id="acc-inside-other-words"),
        pytest.param("loss=nan acc=inf", id="non-finite-words"),
        pytest.param("loss: 1e999", id="overflow"),
        pytest.param("{'name': 'resnet', 'layers': 50}", id="a-dict-of-no-metrics"),
        pytest.param("{'loss': " + "1, " * 3000 + "}", id="dict-too-long"),
        pytest.param("loss:0.5", id="colon-needs-its-space"),
        pytest.param("20ms/step 5", id="step-inside-a-unit"),
        pytest.param("", id="empty"),
        pytest.param("DTRAIN_METRIC not json", id="broken-report"),
    ],
)
def test_false_positives_refused(line):
    assert recognize(line) == ()


@pytest.mark.parametrize(
    "key, expected",
    [("loss", True), ("val_loss", True), ("nll_loss", True), ("Loss", True), ("acc", True), ("accuracy", True),
     ("val_acc", True), ("top1acc", True), ("acc5", True), ("top1_err", True), ("val_error", True), ("err", False),
     ("error", False), ("Errors", False), ("stderr", False), ("access", False), ("accumulate_grad_batches", False),
     ("lr", True), ("learning_rate", True), ("train/learning_rate", True), ("ppl", True), ("perplexity", True),
     ("f1", True), ("eval_f1", True), ("batch_size", False), ("epoch", False), ("step", False), ("port", False),
     ("v_num", False), ("rank", False)],
)
def test_metric_key_rule(key, expected):
    assert metric_key(key) is expected


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,14}", fullmatch=True) | st.sampled_from(sorted(METRIC_WORDS)))
def test_every_metric_like_key_is_read_from_a_line(key):
    """The line's quick key test never drops a key the rule accepts (and keeps nothing else)."""
    points = recognize(f"{key}=1.5")
    assert [(p.name, p.value) for p in points] == ([(key, 1.5)] if metric_key(key) else [])


# -- x values ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "line, step, epoch",
    [
        pytest.param("step 120 loss=0.3", 120, None, id="step-word"),
        pytest.param("Step: 120 | loss: 0.3", 120, None, id="step-colon"),
        pytest.param("global_step=77 loss=0.3", 77, None, id="global-step"),
        pytest.param("iter 42: loss=0.3", 42, None, id="iter"),
        pytest.param("[120/1000] loss=0.3", 120, None, id="bracket-counter"),
        pytest.param("epoch 3 loss=0.3", None, 3.0, id="epoch-only"),
        pytest.param("epoch=1.5 loss=0.3", None, 1.5, id="fractional-epoch"),
        pytest.param("Epoch 3/10 step 7 loss=0.3", 7, 3.0, id="step-wins-over-counter"),
        pytest.param("01/05/2024 loss=0.3", None, None, id="a-date-is-no-counter"),
        pytest.param("200/100 loss=0.3", None, None, id="counter-past-its-total"),
        pytest.param("loss=0.3", None, None, id="none"),
    ],
)
def test_x_values_on_the_line(line, step, epoch):
    [point] = recognize(line)
    assert (point.step, point.epoch) == (step, epoch)


def test_keras_counter_continues_across_epochs():
    reader = MetricReader(pod="job-worker-0", rank=2)
    log = ["Epoch 1/2", "100/100 [====] - 2s 20ms/step - loss: 0.50 - accuracy: 0.80",
           "Epoch 2/2", " 50/100 [==>.] - ETA: 1s - loss: 0.40 - accuracy: 0.85",
           "100/100 [====] - 2s 20ms/step - loss: 0.30 - accuracy: 0.90"]
    points = reader.read_lines(log)
    assert [(p.name, p.step, p.epoch) for p in points] == [
        ("loss", 100, 1.0), ("accuracy", 100, 1.0), ("loss", 150, 2.0), ("accuracy", 150, 2.0),
        ("loss", 200, 2.0), ("accuracy", 200, 2.0)]
    assert {(p.pod, p.rank) for p in points} == {("job-worker-0", 2)}


def test_lightning_epochs_count_from_zero():
    reader = MetricReader()
    first = reader.read("Epoch 0: 100%|██| 10/10 [00:01, v_num=0, train_loss=0.9]")
    second = reader.read("Epoch 1:  50%|█ | 5/10 [00:01, v_num=0, train_loss=0.7]")
    assert (first[0].step, second[0].step) == (10, 15)


def test_remembered_epoch_and_step_place_a_dict_line():
    reader = MetricReader()
    reader.read("step 40 loss=0.5")
    [point] = reader.read("{'loss': 0.25, 'epoch': 0.4}")
    assert (point.step, point.epoch) == (40, 0.4)


def test_a_new_epoch_forgets_the_old_step():
    reader = MetricReader()
    reader.read("epoch 1 step 40 loss=0.5")
    reader.read("Epoch 2/5")
    [point] = reader.read("val_loss=0.4")
    assert (point.step, point.epoch) == (None, 2.0)


def test_time_given_by_the_caller_is_set_on_log_points():
    [point] = MetricReader().read("loss=0.1", time=12.5)
    assert point.time == 12.5


# -- our own line -----------------------------------------------------------------------------

def test_report_line_read_exactly():
    line = MARKER + json.dumps({"step": 10, "epoch": 1, "loss": 0.21, "acc": 1, "progress": 0.4, "note": "x",
                                "flag": True, "rank": 3, "time": 1700000000.25})
    points = MetricReader(pod="p", rank=0).read(line)
    assert [p.to_dict() for p in points] == [
        {"name": n, "value": v, "step": 10, "epoch": 1.0, "time": 1700000000.25, "rank": 3, "pod": "p",
         "source": "report"} for n, v in (("loss", 0.21), ("acc", 1.0), ("progress", 0.4))]


# -- a block of lines at once -----------------------------------------------------------------

LOG = [
    "2024-05-01 12:30:45,123 INFO trainer started on 2 workers",
    "INFO:torch.distributed:rank 0 ready",
    "WARNING note: the data loader is slow",
    "config seed=42 workers=8",
    "Epoch 1/2",
    " 50/100 [==>.] - ETA: 1s - loss: 0.40 - accuracy: 0.85",
    "100/100 [====] - 2s 20ms/step - loss: 0.30 - accuracy: 0.90\r",
    "Epoch 2/2",
    "100/100 [====] - 2s 20ms/step - loss: 0.20 - accuracy: 0.95",
    "{'loss': 0.12, 'learning_rate': 4.5e-05, 'epoch': 2.0}",
    "\rEpoch 0:  10%|█ | 1/10 [00:01, v_num=0, train_loss=0.9]"
    "\rEpoch 0:  20%|██ | 2/10 [00:02, v_num=0, train_loss=0.8]",
    MARKER + '{"step": 7, "loss": 0.5, "rank": 1, "time": 2.0}',
    "step 120 loss=0.3 lr=1e-4 val_loss: 0.35",
    "done",
]


@pytest.mark.parametrize("ending", ["\n", "", "\n\n"])
def test_read_text_finds_what_read_lines_finds(ending):
    text = "\n".join(LOG) + ending
    by_line = MetricReader(pod="p").read_lines(text.split("\n"), time=3.0)
    by_block = MetricReader(pod="p").read_text(text, time=3.0)
    assert by_block == by_line
    assert [p.name for p in by_line] == ["loss", "accuracy"] * 3 + ["loss", "learning_rate", "train_loss", "loss",
                                         "loss", "lr", "val_loss"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(LOG + ["", "x: y", "a=b", "epoch", "{'", ": 1", "=2"]), max_size=40))
def test_read_text_agrees_with_read_lines_on_any_mix(lines):
    text = "\n".join(lines)
    assert MetricReader().read_text(text) == MetricReader().read_lines(text.split("\n"))


def test_a_number_past_floats_range_is_left_out_not_raised() -> None:
    huge = "1" + "0" * 400
    assert recognize('DTRAIN_METRIC {"step": 1, "loss": ' + huge + ', "acc": 0.5}') == recognize(
        'DTRAIN_METRIC {"step": 1, "acc": 0.5}')


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("step 123456789012345678901234 loss=2.0", id="step-word"),
        pytest.param("99999999999999999999/999999999999999999999 loss=2.0", id="counter"),
        pytest.param("{'loss': 2.0, 'step': 123456789012345678901234}", id="dict"),
        pytest.param(MARKER + '{"loss": 2.0, "step": 123456789012345678901234}', id="report"),
    ],
)
def test_a_step_past_64_bits_places_no_point(line) -> None:
    # The store keeps steps as 64-bit integers: a larger one failed the whole batch it came in.
    [point] = MetricReader().read(line)
    assert (point.name, point.value, point.step) == ("loss", 2.0, None)


def test_the_largest_64_bit_step_is_kept() -> None:
    [point] = recognize(f"step {2**63 - 1} loss=2.0")
    assert point.step == 2**63 - 1


def test_an_epoch_past_floats_range_is_no_epoch() -> None:
    [point] = MetricReader().read("epoch " + "9" * 400 + " 1/10 loss=2.0")
    assert (point.value, point.epoch, point.step) == (2.0, None, 1)
