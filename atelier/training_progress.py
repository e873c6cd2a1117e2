"""How far a training run has come: written by the trainer beside its checkpoints, read by the dashboard.

One JSON file: the plan (steps per network, in training order), the network in training and its step, the
networks finished, and when each started, so that a reader can estimate the time left at the rate measured so far.
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
    network: str | None = None  # the one in training; None when all are finished or none has started
    step: int = 0
    finished: list[str] = field(default_factory=list)
    network_started_at: float = 0.0
    network_first_step: int = 0  # where this process took the network up (a resumed run starts past 0)
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

    @property
    def done(self) -> bool:
        return all(name in self.finished for name in self.plan)

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
        """About how long the rest takes, at the current network's rate for every step left; None before a rate."""
        steps_done = self.step - self.network_first_step
        if self.network is None or steps_done <= 0:
            return None
        rate = (self.updated_at - self.network_started_at) / steps_done
        left = self.plan[self.network] - self.step
        left += sum(steps for name, steps in self.plan.items() if name not in self.finished and name != self.network)
        return left * rate

    def describe(self) -> str:
        """One line for people: what is training, how far, about how long the rest takes."""
        if self.done:
            return f"trained: {', '.join(self.plan)}"
        if self.network is None:
            return "starting"
        line = f"training {self.network}: step {self.step:,} of {self.plan[self.network]:,}"
        queued = [name for name in self.plan if name not in self.finished and name != self.network]
        if queued:
            line += f", then {', '.join(queued)}"
        seconds = self.seconds_left()
        if seconds is not None:
            line += f"; about {max(1, round(seconds / 60))} min left"
        return line
