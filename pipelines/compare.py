"""Two models side by side (issue 30): the same question to the task's checkpoint and to --compare-model, both
answers streamed at once, each with its token count and times.

The second model is the task's own pipeline class on another checkpoint: it prepares its own request (its own
processor, chat template and system prompt), loads once through the shared registry (each checkpoint once, its
own lock) and answers greedily as the tab does. pipelines/device.py counts it in the start-up memory plan and
refuses a configuration where it does not fit.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

from .errors import Cancelled, UserFacingError
from .generation import as_model_error


def compare_pipeline(pipes, task: str):
    """`task`'s pipeline class on --compare-model, made once per Pipelines; None without a second model, or where
    it cannot take the task's input (Janus hears no audio). Its flag, in messages, is --compare-model."""
    model_id = pipes.settings.compare_model
    if not model_id:
        return None
    made = pipes.__dict__.setdefault("_compared", {})
    if task not in made:
        base = getattr(pipes, task)
        if base.needs not in pipes.registry.family_of(model_id).modalities:
            made[task] = None
        else:
            cls = type(f"Compared{type(base).__name__}", (type(base),),
                       {"flag": property(lambda self: "--compare-model"), "__doc__": type(base).__doc__})
            made[task] = cls(pipes.registry, model_id, pipes.settings)
    return made[task]


_DONE = object()


def side_by_side(answers: list[Callable[[threading.Event], Iterator[str]]]) -> Iterator[tuple[int, object]]:
    """Run each `answers[i](stop)` (a streaming answer) in a thread of its own and yield (i, update) as updates
    come, until all have ended: an update is the growing Answer, or the UserFacingError that ended that side (the
    other side goes on). Closing this (Stop, a client gone) stops every side within a step and waits for them."""
    stops = [threading.Event() for _ in answers]
    items: queue.SimpleQueue = queue.SimpleQueue()

    def work(i: int) -> None:
        try:
            for answer in answers[i](stops[i]):
                items.put((i, answer))
        except Cancelled:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, as a message for that side
            items.put((i, exc if isinstance(exc, UserFacingError) else as_model_error(exc)))
        finally:
            items.put((i, _DONE))

    threads = [threading.Thread(target=work, args=(i,), name=f"compare {i}", daemon=True) for i in range(len(answers))]
    for thread in threads:
        thread.start()
    try:
        left = len(threads)
        while left:
            i, item = items.get()
            if item is _DONE:
                left -= 1
            else:
                yield i, item
    finally:
        for stop in stops:
            stop.set()
        for thread in threads:
            thread.join()


def stats(answer) -> dict:
    """What one answer cost: tokens generated, seconds in all and to the first token, tokens per second (from
    its Usage: generation.py); empty where the answer carries none (an engine elsewhere)."""
    usage = getattr(answer, "usage", None)
    if usage is None:
        return {}
    end = usage.ended or usage.first_token or usage.started
    seconds = max(end - usage.started, 0.0)
    first = (usage.first_token - usage.started) if usage.first_token else None
    tokens = len(usage.tokens)
    return {"tokens": tokens, "seconds": round(seconds, 3), "first_token_seconds": None if first is None else
            round(first, 3), "tokens_per_second": round(tokens / seconds, 2) if seconds > 0 else None,
            "done": usage.ended is not None}
