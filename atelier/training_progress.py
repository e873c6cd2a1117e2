"""How far a training run has come: written by the trainer beside its checkpoints, read by the dashboard.

One JSON file: the plan (steps per network, in training order), the networks in training (several side by side)
and their steps, the networks finished, and when each started, so that a reader can estimate the time left at the
rate measured so far.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

FILE_NAME = "progress.json"
WRITE_EVERY_S = 2.0


@dataclass
class TrainingProgress:
    plan: dict[str, int]  # network -> steps, in training order
    training: dict[str, dict[str, float]] = field(default_factory=dict)  # network in training -> step, started_at
    # and first_step (where this run took it up: a resumed network starts past 0); several train side by side
    finished: list[str] = field(default_factory=list)
    updated_at: float = 0.0
    pid: int = 0

    @classmethod
    def read(cls, folder: Path) -> TrainingProgress | None:
        """The progress written in `folder`, or None where there is none (or it cannot be read)."""
        try:
            return cls(**json.loads((Path(folder) / FILE_NAME).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, folder: Path) -> None:
        self.updated_at = time.time()
        partial = Path(folder) / f"{FILE_NAME}.tmp"
        partial.write_text(json.dumps(asdict(self)))
        os.replace(partial, Path(folder) / FILE_NAME)

    def start(self, network: str, step: int) -> None:
        self.training[network] = {"step": step, "started_at": time.time(), "first_step": step}

    def finish(self, network: str) -> None:
        self.training.pop(network, None)
        self.finished.append(network)

    @property
    def done(self) -> bool:
        return all(name in self.finished for name in self.plan)

    @property
    def steps_done(self) -> int:
        return sum(self.plan[name] for name in self.finished if name in self.plan) + sum(
            int(state["step"]) for state in self.training.values())

    def running(self) -> bool:
        """Whether the process that writes it is alive (a finished or killed run is not)."""
        if self.done or not self.pid:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def seconds_left(self) -> float | None:
        """About how long the rest takes: every step left at the mean rate measured so far of the networks in
        training, shared among them (they train side by side); None before a rate."""
        rates = [(self.updated_at - state["started_at"]) / (state["step"] - state["first_step"])
                 for state in self.training.values() if state["step"] > state["first_step"]]
        if not rates:
            return None
        left = sum(self.plan.values()) - self.steps_done
        return left * sum(rates) / len(rates) / len(self.training)

    def describe(self) -> str:
        """One line for people: what is training, how far, about how long the rest takes."""
        if self.done:
            return f"trained: {', '.join(self.plan)}"
        if not self.training:
            return "starting"
        line = "training " + " and ".join(f"{name} (step {int(state['step']):,} of {self.plan[name]:,})"
                                          for name, state in self.training.items())
        queued = [name for name in self.plan if name not in self.finished and name not in self.training]
        if queued:
            line += f", then {', '.join(queued)}"
        seconds = self.seconds_left()
        if seconds is not None:
            line += f"; about {max(1, round(seconds / 60))} min left"
        return line
