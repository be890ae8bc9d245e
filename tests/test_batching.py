"""The shared micro-batcher (:mod:`anchorgym.batching`), used by the retrieval and model servers."""

import threading
import time

import pytest

from anchorgym.batching import HISTORY, Batcher


class Gate:
    """A batch function that records its batches and holds the first until released."""

    def __init__(self, fail_on=None):
        self.batches, self.entered, self.release, self.fail_on = [], threading.Event(), threading.Event(), fail_on

    def __call__(self, items):
        self.batches.append(list(items))
        self.entered.set()
        assert self.release.wait(30)
        if self.fail_on in items:
            raise ValueError(f"cannot take {self.fail_on}")
        return [f"{item}!" for item in items]


def wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def queue_behind_first(batcher, gate, items):
    """Submit ``items[0]``, hold its batch, queue the rest behind it in order, release; outcomes in order."""
    outcomes = [None] * len(items)

    def submit(i):
        try:
            outcomes[i] = batcher.submit(items[i])
        except Exception as error:  # noqa: BLE001 - the test inspects it
            outcomes[i] = error

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(items))]
    threads[0].start()
    assert gate.entered.wait(30)
    for i, thread in enumerate(threads[1:], 1):
        thread.start()
        wait_until(lambda i=i: batcher.waiting() == i)
    gate.release.set()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_waiting_items_merge_by_key_within_max_batch():
    gate = Gate()
    items = [("x", 1), ("a", 1), ("b", 1), ("a", 3), ("a", 1), ("b", 1)]
    batcher = Batcher(gate, key=lambda item: item[0], size=lambda item: item[1], max_batch=4)
    outcomes = queue_behind_first(batcher, gate, items)
    assert outcomes == [f"{item}!" for item in items]  # every request gets its own result
    # ("b", 1) waits for the next batch; ("a", 3) fills the first to 4; the held b starts the next
    assert gate.batches == [[("x", 1)], [("a", 1), ("a", 3)], [("b", 1), ("b", 1)], [("a", 1)]]
    assert list(batcher.batch_sizes) == [1, 2, 2, 1] and batcher.waiting() == 0
    assert (batcher.batches, batcher.items) == (4, 6)
    batcher.close()


def test_an_item_larger_than_max_batch_runs_alone():
    gate = Gate()
    batcher = Batcher(gate, size=len, max_batch=2)
    assert queue_behind_first(batcher, gate, ["x", "abc", "y", "z"]) == ["x!", "abc!", "y!", "z!"]
    assert gate.batches == [["x"], ["abc"], ["y", "z"]]
    batcher.close()


@pytest.mark.parametrize("retry_alone", [True, False])
def test_a_failing_batch_fails_only_its_bad_item_when_retried_alone(retry_alone):
    gate = Gate(fail_on="bad")
    batcher = Batcher(gate, retry_alone=retry_alone)
    outcomes = queue_behind_first(batcher, gate, ["x", "ok", "bad", "fine"])
    errors = [isinstance(outcome, ValueError) and str(outcome) == "cannot take bad" for outcome in outcomes]
    if retry_alone:
        assert outcomes[:2] == ["x!", "ok!"] and errors[2] and outcomes[3] == "fine!"
        assert gate.batches == [["x"], ["ok", "bad", "fine"], ["ok"], ["bad"], ["fine"]]
    else:
        assert outcomes[0] == "x!" and errors[1:] == [True, True, True]
    batcher.close()


def test_a_wrong_number_of_results_is_an_error():
    batcher = Batcher(lambda items: [])
    with pytest.raises(RuntimeError, match=r"The batch function returned 0 results for 1 items\."):
        batcher.submit("x")
    batcher.close()


def test_a_lone_item_runs_at_once_without_a_window():
    def timed(window_s):
        batcher = Batcher(lambda items: items, window_s=window_s)
        start = time.perf_counter()
        assert batcher.submit("x") == "x"
        batcher.close()
        return time.perf_counter() - start

    assert timed(1.5) >= 1.5  # a window makes a lone item wait for company, and the clock shows it
    assert timed(0.0) < 0.75


def test_the_record_of_batch_sizes_is_bounded():
    batcher = Batcher(lambda items: items)
    for i in range(HISTORY + 5):
        batcher.submit(i)
    assert len(batcher.batch_sizes) == HISTORY and (batcher.batches, batcher.items) == (HISTORY + 5, HISTORY + 5)
    batcher.close()


def test_close_stops_the_worker_and_refuses_new_items():
    batcher = Batcher(lambda items: items, name="test-batcher")
    assert batcher.submit(1) == 1
    batcher.close()
    assert not any(thread.name == "test-batcher" for thread in threading.enumerate())
    with pytest.raises(RuntimeError, match=r"This batcher is closed: make a new one\."):
        batcher.submit(2)
    batcher.close()  # twice is harmless
