"""Progress display of long training work (rich), quiet when output is not a terminal."""

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn

__all__ = ["console", "TrainingProgress"]

console = Console(stderr=True, soft_wrap=True)


class TrainingProgress:
    """A callable for ``golden_model.train.train(progress=...)``: a bar per epoch, a line per epoch."""

    def __init__(self):
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  dz sparsity {task.fields[sparsity]:.1%}  tau {task.fields[tau]:.2g}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True)
        self._task = None
        self._run = ""

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def __call__(self, event):
        kind = event["kind"]
        if kind == "run":
            self._run = f"[{event['index']}/{event['runs']} {event['threshold']}] "
        elif kind == "start":
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(f"{self._run}epoch {event['epoch']}", total=event["steps"],
                                                 loss=float("nan"), sparsity=0.0, tau=0.0)
        elif kind == "step":
            self._progress.update(self._task, advance=1, loss=event["loss"], sparsity=event["sparsity"],
                                  tau=event["tau"])
        elif kind == "epoch":
            console.print(f"{self._run}epoch {event['epoch']}: train loss {event['train_loss']:.4f}, "
                          f"validation {event['val_metric']:.4f}, dz sparsity {event['dz_sparsity']:.1%}, "
                          f"MACs redundant {event['macs']['redundant_fraction_all']:.1%}, {event['seconds']:.0f} s")
