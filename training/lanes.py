"""Networks trained side by side, each in a process of its own (`train_in_lanes`), and the progress of those in
training: a tqdm bar each and out_dir/progress.json for the dashboard (`Tracker`), which the lanes' processes report
to through a `Relay`."""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from atelier.config import AtelierError
from atelier.training_progress import WRITE_EVERY_S, TrainingProgress


class Tracker:
    """Progress of the networks in training: a tqdm bar each (`bars`), and out_dir/progress.json
    (atelier/training_progress.py) for the dashboard. Networks trained in lanes report to it through a `Relay`."""

    def __init__(self, out_dir: Path, plan: dict[str, int], finished: list[str], bars: bool) -> None:
        self.out_dir, self.bars, self.last_write, self.progress_bars = out_dir, bars, 0.0, {}
        self.state = TrainingProgress(plan, finished=finished, pid=os.getpid())
        self.state.write(out_dir)

    def start(self, network: str, step: int) -> None:
        self.state.start(network, step)
        self.progress_bars[network] = tqdm(total=self.state.plan[network], initial=step, desc=f"train {network}",
                                           unit="step", disable=not self.bars, position=len(self.progress_bars))
        self.state.write(self.out_dir)

    def step(self, network: str, step: int, loss: float) -> None:
        bar = self.progress_bars[network]
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        bar.update(step - bar.n)
        self.state.training[network]["step"] = step
        if time.time() - self.last_write >= WRITE_EVERY_S:
            self.state.write(self.out_dir)
            self.last_write = time.time()

    def finish(self, network: str) -> None:
        if network in self.progress_bars:
            self.progress_bars.pop(network).close()
        self.state.finish(network)
        self.state.write(self.out_dir)


class Relay:
    """What a lane's process has in place of the Tracker: it sends each report to the main process's Tracker."""

    bars = False

    def __init__(self, messages: multiprocessing.Queue) -> None:
        self.messages = messages

    def start(self, network: str, step: int) -> None:
        self.messages.put(("start", network, step))

    def step(self, network: str, step: int, loss: float) -> None:
        self.messages.put(("step", network, step, loss))

    def finish(self, network: str) -> None:
        self.messages.put(("finish", network))


def train_in_lanes(todo: list[str], depends_on: dict[str, str], lane: Callable[..., None], lane_args: tuple,
                   tracker: Tracker, lanes: int, on_trained: Callable[[str], None] | None) -> None:
    """Train `todo` in `lanes` processes side by side: in `todo`'s order, each as soon as a lane is free and the
    network it starts from (`depends_on`) is trained. Each process runs `lane(kind, *lane_args, threads, messages,
    parent pid)`, a module-level function (processes are spawned), and reports through a `Relay` on `messages`.
    A lane that fails or dies stops them all, with its error."""
    context = multiprocessing.get_context("spawn")
    messages, waiting, running = context.Queue(), list(todo), {}
    threads = max(1, (os.cpu_count() or 1) // lanes)
    try:
        while waiting or running:
            for kind in [k for k in waiting if depends_on.get(k) not in (*waiting, *running)][:lanes - len(running)]:
                running[kind] = context.Process(target=lane, args=(kind, *lane_args, threads, messages, os.getpid()))
                running[kind].start()
                waiting.remove(kind)
            try:
                event, kind, *details = messages.get(timeout=WRITE_EVERY_S)
            except queue.Empty:
                if dead := [kind for kind, process in running.items() if not process.is_alive()]:
                    raise AtelierError(f"training {dead[0]} stopped (exit code {running[dead[0]].exitcode})") from None
                continue
            if event == "failed":
                raise AtelierError(f"training {kind} failed: {details[0].strip().splitlines()[-1]}\n{details[0]}")
            getattr(tracker, event)(kind, *details)
            if event == "finish":
                running.pop(kind).join()
                if on_trained is not None:
                    on_trained(kind)
    finally:
        for process in running.values():
            process.terminate()
            process.join()


def end_with(parent: int) -> None:
    """In a lane's process: end it as soon as its main process (`parent`) has ended, however that ended."""

    def orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=orphaned, daemon=True).start()
