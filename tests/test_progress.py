"""Live progress: every long loop reports at each tenth and at least every 30 s, with rate and ETA."""

import io

import torch

from genaug.classifiers import TrainConfig, build_classifier, fit_classifier
from genaug.generators.base import train_loop
from genaug.progress import Progress, duration


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def reported_steps(total, seconds_per_step, start=0, **kw):
    clock, steps = Clock(), []
    p = Progress(total, start=start, clock=clock, **kw)
    for step in range(start + 1, total + 1):
        clock.now += seconds_per_step
        if p.due(step):
            p.line(step)
            steps.append(step)
    return steps


def test_a_fast_loop_reports_at_each_tenth():
    assert reported_steps(200, 0.01) == list(range(20, 201, 20))


def test_a_slow_loop_reports_at_least_every_30_seconds_and_at_each_tenth():
    steps = reported_steps(100, 7.0)  # 700 s in all: a tenth is 70 s
    gaps = [b - a for a, b in zip([0, *steps], steps)]
    assert max(gaps) * 7.0 <= 35.0  # never silent for more than 30 s plus one step
    assert all(t in steps for t in range(10, 101, 10))


def test_a_resumed_loop_counts_rate_from_where_it_resumed():
    clock = Clock()
    p = Progress(1000, start=600, clock=clock)
    clock.now = 100.0
    line = p.line(700)
    assert "step 700/1000" in line and "1.00 steps/s" in line and "ETA 5m00s" in line


def test_the_last_step_says_done_and_a_cap_gives_an_upper_bound():
    clock = Clock()
    p = Progress(10, clock=clock, cap=True)
    clock.now = 5.0
    assert "ETA <= 5s" in p.line(5)
    clock.now = 10.0
    assert p.line(10).endswith("done")


def test_durations_read_as_a_person_would_write_them():
    assert [duration(s) for s in (4.4, 185, 7620)] == ["4s", "3m05s", "2h07m"]


def test_generator_training_logs_losses_rate_and_eta():
    w = torch.nn.Parameter(torch.tensor([3.0]))
    log = io.StringIO()
    train_loop({"w": w}, lambda step, phase: ((w ** 2).sum(), {}), steps=40, lr=0.1, name="toy", log=log)
    lines = log.getvalue().splitlines()
    assert len(lines) >= 10 and all(line.startswith("toy step ") for line in lines)
    assert all("loss" in line and "steps/s" in line for line in lines)
    assert "ETA" in lines[0] and lines[-1].endswith("done")


def test_classifier_training_logs_validation_rate_and_an_eta_bounded_by_the_cap(digits):
    torch.manual_seed(0)
    net = build_classifier("softmax", digits.image_shape, 10)
    log = io.StringIO()
    cfg = TrainConfig(max_steps=30, eval_every=5, patience_steps=30, batch_size=32)
    fit_classifier(net, digits.train_x[:300], digits.train_y[:300], digits.train_x[300:400],
                   digits.train_y[300:400], cfg, seed=0, log=log)
    lines = log.getvalue().splitlines()
    assert sum("val_acc" in line for line in lines) == 6  # each validation, and a line at each tenth between
    assert all("steps/s" in line for line in lines)
    assert "ETA <= " in lines[0] and lines[-1].endswith("done")


def test_diffusion_sampling_logs_each_tenth_of_its_steps():
    from genaug.generators.diffusion import CDDPM

    torch.manual_seed(0)
    model = CDDPM((1, 8, 8), 3, channels=[8, 8], norm_groups=4, timesteps=50)
    log = io.StringIO()
    model.set_sampling({"sampler": "dpm", "steps": 10, "guidance": 1.0}, log=log)
    model.eval()
    images = model.sample(torch.tensor([0, 1, 2]), torch.Generator().manual_seed(0))
    lines = log.getvalue().splitlines()
    assert images.shape == (3, 1, 8, 8) and len(lines) == 10
    assert all(line.startswith("  dpm step ") and "(3 images)" in line for line in lines)
    assert lines[-1].endswith("done")
    model.set_sampling({"sampler": "dpm", "steps": 10, "guidance": 1.0})  # no log: silent
    model.sample(torch.tensor([0]), torch.Generator().manual_seed(0))
