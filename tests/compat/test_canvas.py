"""Celery's canvas guide ("Canvas: Designing Work-flows"), example by
example, with only ``celery`` replaced by ``taskqueue`` in the imports.

The workflows run on a real worker: in memory (fast tier) and, for those
marked ``BOTH_STACKS``, on Kafka, Redis and MongoDB as well.
"""

from __future__ import annotations

from typing import Any

import pytest

from taskqueue import TaskQueue, chain, chord, group, signature
from taskqueue.canvas import Signature
from taskqueue.exceptions import TaskFailed
from taskqueue.result import GroupResult
from taskqueue.worker.main import Worker

from .conftest import BOTH_STACKS

pytestmark = pytest.mark.timeout(120)

T = 30
"""Seconds any single result may take."""


# --- signatures --------------------------------------------------------------------


@pytest.mark.fast
def test_calling_a_signature_runs_the_task_in_this_process(tasks: dict[str, Any]) -> None:
    add = tasks["add"]
    assert add.s(2, 2)() == 4
    assert add.s(2)(8) == 10  # partial: the new arguments come first


@pytest.mark.fast
def test_signatures_are_built_from_names_and_dicts(capp: TaskQueue, tasks: dict[str, Any]) -> None:
    add = tasks["add"]
    sig = capp.signature("tasks.add", args=(2, 2), countdown=10)
    assert sig == {"task": "tasks.add", "args": [2, 2], "kwargs": {}, "options": {"countdown": 10}}
    assert signature("tasks.add", args=(2, 2), countdown=10) == sig
    assert add.signature((2, 2), countdown=10) == sig
    restored = signature(dict(add.s(1, 2)), app=capp)
    assert isinstance(restored, Signature) and restored() == 3
    assert capp.signature(dict(add.si(5, 5))).immutable


@pytest.mark.fast
def test_clone_and_set_change_a_copy_or_the_signature(tasks: dict[str, Any]) -> None:
    partial = tasks["add"].s(2)
    clone = partial.clone(args=(4,), kwargs={"y": 1}, countdown=5)
    assert clone.args == [4, 2] and clone.kwargs == {"y": 1} and clone.options == {"countdown": 5}
    assert partial.args == [2] and partial.options == {}, "the original is unchanged"
    assert partial.set(countdown=10) is partial and partial.options == {"countdown": 10}
    assert tasks["add"].si(2, 2).clone(args=(9,)).args == [2, 2], "immutable keeps its args"


@BOTH_STACKS
def test_partial_signature_and_invert(tasks: dict[str, Any], worker: Worker) -> None:
    add = tasks["add"]
    partial = add.s(2)
    assert partial.delay(4).get(timeout=T) == 6  # 4 + 2
    assert partial.apply_async((4,)).get(timeout=T) == 6
    assert ~add.s(2, 2) == 4


@pytest.mark.fast
def test_freeze_fixes_the_id_before_the_call(tasks: dict[str, Any], worker: Worker) -> None:
    sig = tasks["add"].s(2, 2)
    frozen = sig.freeze()
    assert sig.delay().id == frozen.id
    assert frozen.get(timeout=T) == 4
    g = group(tasks["add"].s(i, i) for i in range(3))
    gres = g.freeze()
    assert g().id == gres.id and [r.id for r in g().results] == [r.id for r in gres.results]


# --- callbacks ---------------------------------------------------------------------


@BOTH_STACKS
def test_link_takes_one_signature_and_children_find_it(
    tasks: dict[str, Any], worker: Worker
) -> None:
    add = tasks["add"]
    res = add.apply_async((2, 2), link=add.s(16))
    assert res.get(timeout=T) == 4
    assert res.children is not None
    assert res.children[0].get(timeout=T) == 20
    many = add.apply_async((1, 1), link=[add.s(10), add.s(20)])
    assert many.get(timeout=T) == 2
    assert [c.get(timeout=T) for c in many.children or []] == [12, 22]


@pytest.mark.fast
def test_link_and_link_error_methods(tasks: dict[str, Any], worker: Worker) -> None:
    add, fail, handler = tasks["add"], tasks["fail"], tasks["error_handler"]
    sig = add.s(2, 2)
    callback = add.s(16)
    callback.freeze()
    assert sig.link(callback) is callback
    assert sig.delay().get(timeout=T) == 4
    assert callback.freeze().get(timeout=T) == 20
    errback = handler.s()
    errback.freeze()
    failing = fail.s("boom").on_error(errback)
    res = failing.delay()
    with pytest.raises(TaskFailed, match="ValueError: boom"):
        res.get(timeout=T)
    assert errback.freeze().get(timeout=T) == f"handled {res.id}"


# --- chains ------------------------------------------------------------------------


@BOTH_STACKS
def test_chain_results_and_parents(tasks: dict[str, Any], worker: Worker) -> None:
    add = tasks["add"]
    res = chain(add.s(2, 2), add.s(4), add.s(8))()
    assert res.get(timeout=T) == 16
    assert res.parent.get(timeout=T) == 8
    assert res.parent.parent.get(timeout=T) == 4
    assert res.parent.parent.children == [res.parent]
    assert (add.s(2, 2) | add.s(4) | add.s(8))().get(timeout=T) == 16
    assert chain(add.s(4, 4), add.si(1, 1)).apply_async().get(timeout=T) == 2


@pytest.mark.fast
def test_chain_partial_arguments_go_to_the_first_task(
    tasks: dict[str, Any], worker: Worker
) -> None:
    add, mul = tasks["add"], tasks["mul"]
    assert chain(add.s(4), mul.s(8))(4).get(timeout=T) == 64


# --- groups ------------------------------------------------------------------------


@BOTH_STACKS
def test_group_results_in_order(tasks: dict[str, Any], worker: Worker) -> None:
    add = tasks["add"]
    res = group(add.s(i, i) for i in range(10))()
    assert isinstance(res, GroupResult)
    assert res.get(timeout=T) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert res.ready() and res.successful() and res.completed_count() == 10
    assert group(add.s(2, 2), add.s(4, 4)).apply_async().get(timeout=T) == [4, 8]


@BOTH_STACKS
def test_group_result_save_and_restore(
    capp: TaskQueue, tasks: dict[str, Any], worker: Worker
) -> None:
    add = tasks["add"]
    res = group(add.s(i, i) for i in range(4))()
    res.save()
    restored = GroupResult.restore(res.id, app=capp)
    assert restored is not None and restored.id == res.id
    assert restored.get(timeout=T) == [0, 2, 4, 6]
    assert GroupResult.restore("no-such-group", app=capp) is None


# --- chords ------------------------------------------------------------------------


@BOTH_STACKS
def test_chord_forms(tasks: dict[str, Any], worker: Worker) -> None:
    add, xsum = tasks["add"], tasks["xsum"]
    assert chord((add.s(i, i) for i in range(10)), xsum.s())().get(timeout=T) == 90
    res = chord(add.s(i, i) for i in range(10))(xsum.s())
    assert res.get(timeout=T) == 90
    assert res.parent.get(timeout=T) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert (group(add.s(i, i) for i in range(10)) | xsum.s())().get(timeout=T) == 90


@pytest.mark.fast
def test_a_failed_header_member_fails_the_chord(tasks: dict[str, Any], worker: Worker) -> None:
    add, fail, xsum = tasks["add"], tasks["fail"], tasks["xsum"]
    res = chord([add.s(1, 1), fail.s("boom")], xsum.s())()
    with pytest.raises(TaskFailed, match="ChordError"):
        res.get(timeout=T)


# --- nesting -----------------------------------------------------------------------


@BOTH_STACKS
def test_group_inside_a_chain(tasks: dict[str, Any], worker: Worker) -> None:
    add, xsum, mul = tasks["add"], tasks["xsum"], tasks["mul"]
    c1 = add.s(4) | group(add.s(i) for i in range(10))
    res = c1(16)
    assert isinstance(res, GroupResult)
    assert res.get(timeout=T) == [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]
    # a group in the middle: the next step gets the list (it becomes a chord)
    middle = chain(add.s(1, 1), group(add.s(1), add.s(2)), xsum.s(), mul.s(10))()
    assert middle.get(timeout=T) == 70
    assert middle.parent.get(timeout=T) == 7
    assert middle.parent.parent.get(timeout=T) == [3, 4]


@pytest.mark.fast
def test_chord_inside_a_chain(tasks: dict[str, Any], worker: Worker) -> None:
    add, xsum, mul = tasks["add"], tasks["xsum"], tasks["mul"]
    res = chain(add.s(1, 1), chord([add.s(1), add.s(2)], xsum.s()), mul.s(2))()
    assert res.get(timeout=T) == 14
    assert res.parent.get(timeout=T) == 7


@pytest.mark.fast
def test_chain_inside_a_group(tasks: dict[str, Any], worker: Worker) -> None:
    add, mul = tasks["add"], tasks["mul"]
    res = group(add.s(1, 1) | mul.s(10), mul.s(2, 3))()
    assert res.get(timeout=T) == [20, 6]


@BOTH_STACKS
def test_chord_whose_header_holds_chains(tasks: dict[str, Any], worker: Worker) -> None:
    add, mul, xsum = tasks["add"], tasks["mul"], tasks["xsum"]
    header = [add.s(1, 1) | mul.s(10) | add.s(1), add.s(2, 2)]
    assert chord(header, xsum.s())().get(timeout=T) == 25


@pytest.mark.fast
def test_a_group_followed_by_a_group_is_refused_clearly(tasks: dict[str, Any]) -> None:
    add = tasks["add"]
    with pytest.raises(NotImplementedError, match="group followed directly by a group"):
        chain(group(add.s(1, 1), add.s(2, 2)), group(add.s(1), add.s(2)))()


# --- map, starmap, chunks ----------------------------------------------------------


@BOTH_STACKS
def test_map_starmap_and_chunks(tasks: dict[str, Any], worker: Worker) -> None:
    add, xsum = tasks["add"], tasks["xsum"]
    # JSON carries lists: the guide's range(10) is list(range(10)) here
    assert ~xsum.map([list(range(10)), list(range(100))]) == [45, 4950]
    assert ~add.starmap(zip(range(10), range(10), strict=True)) == [
        0,
        2,
        4,
        6,
        8,
        10,
        12,
        14,
        16,
        18,
    ]
    res = add.chunks(zip(range(100), range(100), strict=True), 10)()
    assert isinstance(res, GroupResult)
    assert res.get(timeout=T) == [[2 * (10 * c + i) for i in range(10)] for c in range(10)]


@pytest.mark.fast
def test_chunks_as_a_group_with_skew(tasks: dict[str, Any]) -> None:
    g = tasks["add"].chunks(zip(range(10), range(10), strict=True), 5).group()
    assert len(g) == 2
    g.skew(start=1, stop=10)
    assert [m.options["countdown"] for m in g] == [1, 2]


# --- eager ---------------------------------------------------------------------------


@pytest.mark.fast
def test_apply_runs_a_whole_canvas_in_this_process(tasks: dict[str, Any]) -> None:
    add, mul, xsum = tasks["add"], tasks["mul"], tasks["xsum"]
    assert add.s(2, 2).apply().get() == 4
    res = chain(add.s(2, 2), add.s(4), add.s(8)).apply()
    assert res.get() == 16 and res.parent.get() == 8
    assert group(add.s(i, i) for i in range(3)).apply().get() == [0, 2, 4]
    assert chord([add.s(1, 1) | mul.s(3), add.s(2, 2)], xsum.s()).apply().get() == 10
    assert chain(add.s(1, 1), group(add.s(1), add.s(2)), xsum.s()).apply().get() == 7


@pytest.mark.fast
def test_always_eager_runs_canvases_inline(unique_name: str) -> None:
    from .tasks import register

    app = TaskQueue(
        "eager",
        broker_url="memory://",
        redis_url="memory://",
        mongo_url="memory://",
        key_prefix=unique_name,
        always_eager=True,
    )
    t = register(app)
    add, xsum = t["add"], t["xsum"]
    assert chain(add.s(2, 2), add.s(4))().get() == 8
    assert chord((add.s(i, i) for i in range(4)), xsum.s())().get() == 12
    assert add.s(1, 1).delay().get() == 2
